package exporter

import (
	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// wireCandidate is the edge between the pure decision and the wire: the
// candidate in api form, with its token masked beside it.
func wireCandidate(c sweep.Candidate) api.Candidate {
	return api.Candidate{
		Namespace:            c.Namespace,
		NamespaceUID:         c.NamespaceUID,
		Token:                c.Token,
		TokenMasked:          logsafe.Mask(c.Token),
		Kind:                 c.Kind,
		ResourceType:         c.ResourceType,
		Reason:               c.Reason,
		LastStatus:           c.LastStatus,
		LastStatusNull:       c.LastStatusNull,
		NamespaceCreatedAt:   c.NamespaceCreatedAt.UTC(),
		FirstSeenAt:          c.FirstSeenAt.UTC(),
		EvidenceDigest:       c.EvidenceDigest,
		EvidenceSince:        c.EvidenceSince.UTC(),
		ConsecutiveSweeps:    c.ConsecutiveSweeps,
		Terminating:          c.Terminating,
		Reclaimable:          c.Reclaimable,
		NotReclaimableReason: c.NotReclaimableReason,
	}
}

func wireCandidates(cs []sweep.Candidate) []api.Candidate {
	out := make([]api.Candidate, len(cs))
	for i, c := range cs {
		out[i] = wireCandidate(c)
	}
	return out
}

// wireContents is a namespace's contents as the wire shows them; nil when
// they were never read.
func wireContents(c sweep.Contents) *api.Contents {
	if !c.Read {
		return nil
	}
	return &api.Contents{
		ReadAt:                c.ReadAt,
		Pods:                  c.Pods,
		PodsRunning:           c.PodsRunning,
		PVCs:                  c.PVCs,
		StorageRequestedBytes: c.StorageRequestedBytes,
		LastChangeAt:          c.LastChangeAt,
		Error:                 c.Error,
	}
}
