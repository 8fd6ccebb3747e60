// Package api holds the wire types shared by the exporter and the plugin: the
// /candidates JSON documents and the platform's audited deprovision contract
// (documented in deprovision.openapi.yaml). Field names are the contract; the
// exporter and the plugin change them only together.
package api

import "time"

// Kinds are the two values of the `kind` metric label and JSON field.
const (
	KindRedis    = "redis_namespace"
	KindCustomer = "customer_namespace"
)

// Kinds lists every kind, in the order they are reported.
var Kinds = []string{KindCustomer, KindRedis}

// Reasons say why a namespace's token is not live.
const (
	// ReasonNoRow: the ledger has no row at all for the token.
	ReasonNoRow = "no_row"
	// ReasonTerminal: rows exist and every one has a terminal status.
	ReasonTerminal = "terminal"
	// ReasonUnknownStatus: no row is live and at least one has a status that
	// is neither live nor terminal (NULL, '', a case variant, "provisioning").
	// Such a candidate is listed and counted, and never reclaimable.
	ReasonUnknownStatus = "unknown_status"
)

// Reasons lists every reason, in the order they are reported (the values of
// the `reason` label of candidates_by_reason).
var Reasons = []string{ReasonNoRow, ReasonTerminal, ReasonUnknownStatus}

// Rules that keep a candidate from being reclaimable, in the order they are
// checked; not_reclaimable_reason names the first that fails.
const (
	NotReclaimableSweepDisabled       = "sweep_disabled"
	NotReclaimableTerminating         = "terminating"
	NotReclaimableNoncanonicalToken   = "noncanonical_token"
	NotReclaimableUnknownStatus       = "unknown_status"
	NotReclaimableNoProvenType        = "no_proven_type"
	NotReclaimableMixedTypes          = "mixed_types"
	NotReclaimableTypeNotAllowed      = "type_not_allowed"
	NotReclaimableEvidenceChanged     = "evidence_changed"
	NotReclaimableUnconfirmed         = "unconfirmed"
	NotReclaimableEvidenceTooRecent   = "evidence_too_recent"
	NotReclaimableRecentChange        = "recent_change"
	NotReclaimableDestructiveDisabled = "destructive_disabled"
)

// Why a namespace is not a candidate (GET /candidates/{namespace} 404).
const (
	WhyLive        = "live"
	WhyNotFound    = "not_found"
	WhyOutOfScope  = "out_of_scope"
	WhyWithinGrace = "within_grace"
	WhyExcluded    = "excluded"
)

// Candidate is one orphan candidate.
type Candidate struct {
	Namespace    string `json:"namespace"`
	NamespaceUID string `json:"namespace_uid"`
	Token        string `json:"token"`
	TokenMasked  string `json:"token_masked"`
	Kind         string `json:"kind"`
	ResourceType string `json:"resource_type"`
	Reason       string `json:"reason"`
	// LastStatus is the newest row's status; "" with LastStatusNull when it is NULL.
	LastStatus         string    `json:"last_status"`
	LastStatusNull     bool      `json:"last_status_null,omitempty"`
	NamespaceCreatedAt time.Time `json:"namespace_created_at"`
	// FirstSeenAt is the first detection (it drives candidates_total).
	FirstSeenAt time.Time `json:"first_seen_at"`
	// EvidenceDigest is the hex SHA-256 of what the verdict rests on: the
	// namespace UID, the token and the token's rows as read.
	EvidenceDigest string `json:"evidence_digest"`
	// EvidenceSince is when the current digest was first seen (or the
	// terminal row's terminated-at column, when configured).
	EvidenceSince time.Time `json:"evidence_since"`
	// ConsecutiveSweeps counts consecutive successful sweeps that saw the
	// same EvidenceDigest.
	ConsecutiveSweeps    int    `json:"consecutive_sweeps"`
	Terminating          bool   `json:"terminating"`
	Reclaimable          bool   `json:"reclaimable"`
	NotReclaimableReason string `json:"not_reclaimable_reason"`
	// Contents is what the namespace holds; absent until first read.
	Contents *Contents `json:"contents,omitempty"`
}

// Contents is what a reclaim of a candidate would destroy.
type Contents struct {
	ReadAt                time.Time `json:"read_at"`
	Pods                  int       `json:"pods"`
	PodsRunning           int       `json:"pods_running"`
	PVCs                  int       `json:"pvcs"`
	StorageRequestedBytes int64     `json:"storage_requested_bytes"`
	// LastChangeAt is the newest change made in the namespace: a creation
	// or non-status update of an object that no controller owns, or a scale
	// or ephemeral container update of any object; zero when unknown.
	LastChangeAt time.Time `json:"last_change_at"`
	// Error is set when the contents could not be read; such a candidate is
	// not reclaimable.
	Error string `json:"error,omitempty"`
}

// Sweep describes the sweep a snapshot came from.
type Sweep struct {
	OK              bool    `json:"ok"`
	Error           string  `json:"error"`
	DurationSeconds float64 `json:"duration_seconds"`
	// LedgerQuerySeconds is the part of DurationSeconds spent in the ledger query.
	LedgerQuerySeconds float64 `json:"ledger_query_seconds"`
	NamespacesInScope  int     `json:"namespaces_in_scope"`
}

// Policy is every guard of the exporter's configuration that shapes
// verdicts, so that whoever acts on them can see what they rest on.
type Policy struct {
	Prefix        string   `json:"prefix"`
	ExcludePrefix []string `json:"exclude_prefix"`
	GraceSeconds  float64  `json:"grace_seconds"`
	Confirmations int      `json:"confirmations"`
	ReclaimTypes  []string `json:"reclaim_types"`
	// MinEvidenceAgeSeconds and QuietPeriodSeconds are 0 for no minimum.
	MinEvidenceAgeSeconds float64  `json:"min_evidence_age_seconds"`
	QuietPeriodSeconds    float64  `json:"quiet_period_seconds"`
	MaxCandidateFraction  float64  `json:"max_candidate_fraction"`
	GuardMinNamespaces    int      `json:"guard_min_namespaces"`
	LiveStatuses          []string `json:"live_statuses"`
	TerminalStatuses      []string `json:"terminal_statuses"`
	// TerminatedAtColumn is "" when evidence is dated by first sighting.
	TerminatedAtColumn   string   `json:"terminated_at_column"`
	MaxReplicaLagSeconds float64  `json:"max_replica_lag_seconds"`
	IgnoreManagers       []string `json:"ignore_managers"`
	// Weakened lists the guards set weaker than their defaults, by flag name
	// without dashes (sweep.grace, reclaim.min-evidence-age, ...).
	Weakened []string `json:"weakened"`
}

// Candidates is the body of GET /candidates.
type Candidates struct {
	GeneratedAt time.Time `json:"generated_at"`
	// ClusterUID is the UID of the cluster's kube-system namespace; "" until
	// the exporter has read it (never while the sweep is disabled).
	ClusterUID         string      `json:"cluster_uid"`
	Enabled            bool        `json:"enabled"`
	DestructiveEnabled bool        `json:"destructive_enabled"`
	Sweep              Sweep       `json:"sweep"`
	Policy             Policy      `json:"policy"`
	Candidates         []Candidate `json:"candidates"`
}

// NotCandidate is the body of a 404 from GET /candidates/{namespace}.
type NotCandidate struct {
	Candidate bool   `json:"candidate"`
	Why       string `json:"why"`
}

// Error is the body of every 4xx/5xx the exporter answers with, except the
// NotCandidate 404.
type Error struct {
	Error string `json:"error"`
	// Enabled is set when the error is that the sweep is disabled.
	Enabled *bool `json:"enabled,omitempty"`
}

// Ghost is a token with a live ledger row past the ghost grace and no
// namespace in the cluster. Nothing ever acts on a ghost.
type Ghost struct {
	Token       string `json:"token"`
	TokenMasked string `json:"token_masked"`
	// Namespace is the name the token's namespace would have.
	Namespace string `json:"namespace"`
	// Kind is redis_namespace for a redis resource, else customer_namespace,
	// as the ghost gauges' kind label.
	Kind string `json:"kind"`
	// ResourceType, Status and RowCreatedAt come from the token's oldest live row.
	ResourceType string    `json:"resource_type"`
	Status       string    `json:"status"`
	RowCreatedAt time.Time `json:"row_created_at"`
	FirstSeenAt  time.Time `json:"first_seen_at"`
	// ConsecutiveSweeps counts consecutive successful ghost sweeps that saw it.
	ConsecutiveSweeps int `json:"consecutive_sweeps"`
}

// GhostSweep describes the ghost sweep a /ghosts document came from.
type GhostSweep struct {
	OK              bool    `json:"ok"`
	Error           string  `json:"error"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// Ghosts is the body of GET /ghosts.
type Ghosts struct {
	GeneratedAt time.Time  `json:"generated_at"`
	Enabled     bool       `json:"enabled"`
	Sweep       GhostSweep `json:"sweep"`
	Ghosts      []Ghost    `json:"ghosts"`
}
