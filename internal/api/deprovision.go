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
}

// DeprovisionResponse is the body of a 200 answer.
type DeprovisionResponse struct {
	Deprovisioned bool   `json:"deprovisioned"`
	AuditID       string `json:"audit_id"`
	// Message is optional text from the platform (why not deprovisioned, for example).
	Message string `json:"message,omitempty"`
}
