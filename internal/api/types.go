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
	// ReasonTerminal: rows exist and none has a live status.
	ReasonTerminal = "terminal"
)

// Rules that keep a candidate from being reclaimable, in the order they are checked.
const (
	NotReclaimableSweepDisabled       = "sweep_disabled"
	NotReclaimableTerminating         = "terminating"
	NotReclaimableNoProvenType        = "no_proven_type"
	NotReclaimableTypeNotAllowed      = "type_not_allowed"
	NotReclaimableUnconfirmed         = "unconfirmed"
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
	Namespace            string    `json:"namespace"`
	Token                string    `json:"token"`
	TokenMasked          string    `json:"token_masked"`
	Kind                 string    `json:"kind"`
	ResourceType         string    `json:"resource_type"`
	Reason               string    `json:"reason"`
	LastStatus           string    `json:"last_status"`
	NamespaceCreatedAt   time.Time `json:"namespace_created_at"`
	FirstSeenAt          time.Time `json:"first_seen_at"`
	ConsecutiveSweeps    int       `json:"consecutive_sweeps"`
	Terminating          bool      `json:"terminating"`
	Reclaimable          bool      `json:"reclaimable"`
	NotReclaimableReason string    `json:"not_reclaimable_reason"`
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

// Policy is the part of the exporter's configuration that shapes verdicts.
type Policy struct {
	Prefix        string   `json:"prefix"`
	GraceSeconds  float64  `json:"grace_seconds"`
	Confirmations int      `json:"confirmations"`
	ReclaimTypes  []string `json:"reclaim_types"`
}

// Candidates is the body of GET /candidates.
type Candidates struct {
	GeneratedAt        time.Time   `json:"generated_at"`
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
