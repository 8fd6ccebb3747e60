package exporter

import (
	"testing"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/sweep"
)

// The pure decision names its kinds, reasons and rules itself (it imports
// nothing of the project but the jcs leaf); wireCandidate copies them onto the wire as they
// are. Every name must therefore be the same string on both sides.
func TestSweepAndWireNamesAgree(t *testing.T) {
	for _, pair := range [][2]string{
		{sweep.KindRedis, api.KindRedis},
		{sweep.KindCustomer, api.KindCustomer},
		{sweep.ReasonNoRow, api.ReasonNoRow},
		{sweep.ReasonTerminal, api.ReasonTerminal},
		{sweep.ReasonUnknownStatus, api.ReasonUnknownStatus},
		{sweep.NotReclaimableSweepDisabled, api.NotReclaimableSweepDisabled},
		{sweep.NotReclaimableTerminating, api.NotReclaimableTerminating},
		{sweep.NotReclaimableUnknownStatus, api.NotReclaimableUnknownStatus},
		{sweep.NotReclaimableNoProvenType, api.NotReclaimableNoProvenType},
		{sweep.NotReclaimableMixedTypes, api.NotReclaimableMixedTypes},
		{sweep.NotReclaimableTypeNotAllowed, api.NotReclaimableTypeNotAllowed},
		{sweep.NotReclaimableEvidenceChanged, api.NotReclaimableEvidenceChanged},
		{sweep.NotReclaimableUnconfirmed, api.NotReclaimableUnconfirmed},
		{sweep.NotReclaimableEvidenceTooRecent, api.NotReclaimableEvidenceTooRecent},
		{sweep.NotReclaimableRecentChange, api.NotReclaimableRecentChange},
		{sweep.NotReclaimableDestructiveDisabled, api.NotReclaimableDestructiveDisabled},
		{sweep.WhyLive, api.WhyLive},
		{sweep.WhyNotFound, api.WhyNotFound},
		{sweep.WhyOutOfScope, api.WhyOutOfScope},
		{sweep.WhyWithinGrace, api.WhyWithinGrace},
		{sweep.WhyExcluded, api.WhyExcluded},
	} {
		if sw, wire := pair[0], pair[1]; sw != wire {
			t.Errorf("sweep says %q where the wire says %q", sw, wire)
		}
	}
	if len(api.Reasons) != 3 {
		t.Errorf("api.Reasons %v: a reason was added without its sweep counterpart here", api.Reasons)
	}
}
