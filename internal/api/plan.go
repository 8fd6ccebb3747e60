package api

import "time"

// PlanVersion is the version of the plan format this code writes and reads.
const PlanVersion = 1

// Plan is a reviewed list of namespaces to reclaim, written by `kubectl
// orphans plan` and run, by someone else, with `kubectl orphans reclaim
// --plan`. Digest is the hex SHA-256 of the RFC 8785 JSON of the plan
// without digest; it detects changes, it is not a signature.
type Plan struct {
	Version int    `json:"version"`
	Digest  string `json:"digest,omitempty"`
	// PlanID is the platform's id of the plan, given when its author
	// registered it; it is not part of the digest, which was registered.
	PlanID         string      `json:"plan_id,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
	ExpiresAt      time.Time   `json:"expires_at"`
	Author         string      `json:"author"`
	Cluster        PlanCluster `json:"cluster"`
	OperatorReason string      `json:"operator_reason"`
	// Items are sorted by namespace.
	Items []PlanItem `json:"items"`
}

// PlanCluster says which cluster a plan is for; UID, the UID of the
// kube-system namespace, is what a run matches.
type PlanCluster struct {
	Context string `json:"context"`
	Server  string `json:"server"`
	UID     string `json:"uid"`
}

// PlanItem is one namespace of a plan, with the evidence seen at review.
type PlanItem struct {
	Namespace      string `json:"namespace"`
	NamespaceUID   string `json:"namespace_uid"`
	Token          string `json:"token"`
	ResourceType   string `json:"resource_type"`
	EvidenceDigest string `json:"evidence_digest"`
	Reason         string `json:"reason"`
	LastStatus     string `json:"last_status"`
}
