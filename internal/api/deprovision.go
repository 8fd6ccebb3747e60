package api

import "time"

// DeprovisionPath is where the platform's audited deprovision API takes requests.
const DeprovisionPath = "/v1/deprovision"

// Headers of a deprovision request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderAuthorization  = "Authorization"
)

// DeprovisionRequest is the body of POST /v1/deprovision.
type DeprovisionRequest struct {
	RequestID    string `json:"request_id"`
	Token        string `json:"token"`
	ResourceType string `json:"resource_type"`
	// ProviderResourceID is the namespace name and is never empty: an empty
	// one can route a teardown to the wrong backend.
	ProviderResourceID string   `json:"provider_resource_id"`
	Actor              string   `json:"actor"`
	Reason             string   `json:"reason"`
	DryRun             bool     `json:"dry_run"`
	Evidence           Evidence `json:"evidence"`
}

// Evidence is what the exporter saw, sent along so the audit record shows why.
type Evidence struct {
	Namespace          string    `json:"namespace"`
	Reason             string    `json:"reason"`
	LastStatus         string    `json:"last_status"`
	NamespaceCreatedAt time.Time `json:"namespace_created_at"`
	FirstSeenAt        time.Time `json:"first_seen_at"`
	ConsecutiveSweeps  int       `json:"consecutive_sweeps"`
	ConfirmedAt        time.Time `json:"confirmed_at"`
	// NamespaceUID lets the platform delete with a UID precondition.
	NamespaceUID   string `json:"namespace_uid"`
	EvidenceDigest string `json:"evidence_digest"`
	// PlanDigest and PlanAuthor are set for a run of a reviewed plan.
	PlanDigest string `json:"plan_digest,omitempty"`
	PlanAuthor string `json:"plan_author,omitempty"`
	// SelfApproved records --allow-self-approval on a plan run.
	SelfApproved bool `json:"self_approved,omitempty"`
	// PlanID is the id the platform gave the plan when its author
	// registered it, and PlanExpiresAt the plan's expiry; both are set
	// on a plan run.
	PlanID        string     `json:"plan_id,omitempty"`
	PlanExpiresAt *time.Time `json:"plan_expires_at,omitempty"`
	// Floors are the plugin's safety floors of the run, sent when the
	// operator lowered any of them below its default.
	Floors *Floors `json:"floors,omitempty"`
}

// Floors are the plugin's own minimums on a fresh verdict: a target below
// any of them is skipped, never sent.
type Floors struct {
	MinEvidenceAgeSeconds  int64 `json:"min_evidence_age_seconds"`
	QuietPeriodSeconds     int64 `json:"quiet_period_seconds"`
	MinConfirmations       int   `json:"min_confirmations"`
	MinNamespaceAgeSeconds int64 `json:"min_namespace_age_seconds"`
	// Lowered names the floors set below their defaults, by flag name.
	Lowered []string `json:"lowered"`
}

// PlanProblems are the contract's rules on a request's plan fields, which
// the OpenAPI schema cannot say: plan_digest and plan_author come together,
// self_approved only with a plan, and a request whose actor wrote the plan
// says so with self_approved (the four-eyes check was overridden on
// purpose, not skipped). The client refuses to send such a request and the
// stand-in platform answers it 400.
func (r DeprovisionRequest) PlanProblems() []string {
	ev := r.Evidence
	var p []string
	if (ev.PlanDigest == "") != (ev.PlanAuthor == "") {
		p = append(p, "evidence.plan_digest and evidence.plan_author do not come together")
	}
	if (ev.PlanID == "") != (ev.PlanDigest == "") || (ev.PlanExpiresAt == nil) != (ev.PlanDigest == "") {
		p = append(p, "evidence.plan_id, evidence.plan_expires_at and evidence.plan_digest do not come together")
	}
	if ev.SelfApproved && ev.PlanDigest == "" {
		p = append(p, "evidence.self_approved without a plan")
	}
	if ev.PlanAuthor != "" && ev.PlanAuthor == r.Actor && !ev.SelfApproved {
		p = append(p, "the actor wrote the plan and self approval is not recorded")
	}
	return p
}

// DeprovisionResponse is the body of a 200 answer.
type DeprovisionResponse struct {
	Deprovisioned bool   `json:"deprovisioned"`
	AuditID       string `json:"audit_id"`
	// DryRun echoes the request's dry_run; a dry-run answer without it is not
	// to be trusted.
	DryRun bool `json:"dry_run"`
	// Message is optional text from the platform (why not deprovisioned, for example).
	Message string `json:"message,omitempty"`
}

// CapabilitiesPath answers what the platform supports; a server dry run is
// sent only to a platform that answers {"dry_run": true}.
const CapabilitiesPath = "/v1/capabilities"

// Capabilities is the body of GET /v1/capabilities.
type Capabilities struct {
	DryRun bool `json:"dry_run"`
	// Plans: the platform registers plans (POST /v1/plans) and enforces
	// them: four eyes, the items, the expiry.
	Plans bool `json:"plans"`
}

// PlansPath is where a plan's author registers it with the platform.
const PlansPath = "/v1/plans"

// PlanRegistration is the body of a 201 answer to POST /v1/plans: the
// plan's id and its author, the identity of the bearer secret that
// registered it.
type PlanRegistration struct {
	PlanID string `json:"plan_id"`
	Author string `json:"author"`
}
