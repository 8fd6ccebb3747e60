package plugin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
)

// Why a target was skipped: nothing was sent for it.
const (
	// WhyLive: the fresh check says the token is live.
	WhyLive = "live"
	// WhyChanged: the evidence is not the evidence shown at confirmation.
	WhyChanged = "changed"
	// WhyNotReclaimable: the exporter does not call it reclaimable now.
	WhyNotReclaimable = "not_reclaimable"
	// WhyUnverifiedClaim: the exporter calls it reclaimable, but the claim
	// fails the plugin's own checks.
	WhyUnverifiedClaim = "unverified_claim"
	// WhyConflict: the platform refused it (409).
	WhyConflict = "conflict"
)

// claimRules are what the plugin itself requires of a reclaimable verdict
// before it sends anything, whatever the exporter says: it does not trust
// the exporter's policy, only its reading of the cluster and the ledger.
type claimRules struct {
	// prefix is the tenant namespace prefix (--namespace-prefix).
	prefix string
	// types are the resource types the plugin reclaims (--types).
	types []string
	// floors are the minimums of --min-evidence-age, --quiet-period,
	// --min-confirmations and --min-namespace-age.
	floors api.Floors
	now    func() time.Time
}

// problem returns why candidate c, the exporter's verdict on namespace ns,
// fails the plugin's checks, or "" when it passes. Messages name no token.
func (r claimRules) problem(ns string, c *api.Candidate) string {
	switch {
	case c.Namespace != ns:
		return fmt.Sprintf("the verdict is about another namespace (%d characters long)", len(c.Namespace))
	case c.Token == "" || ns != r.prefix+c.Token:
		return fmt.Sprintf("the namespace is not %q followed by the candidate's token", r.prefix)
	case c.Reason != api.ReasonTerminal:
		return fmt.Sprintf("reason is %q, not %q", c.Reason, api.ReasonTerminal)
	case !slices.Contains(r.types, c.ResourceType):
		return fmt.Sprintf("resource_type %q is not one of --types %s", c.ResourceType, strings.Join(r.types, ","))
	case c.Terminating:
		return "the namespace is terminating"
	case c.NamespaceUID == "":
		return "no namespace_uid"
	case c.EvidenceDigest == "":
		return "no evidence_digest"
	case c.Contents == nil:
		return "what the namespace holds was never read"
	case c.Contents.Error != "":
		return "what the namespace holds could not be read"
	case c.Contents.LastChangeAt.IsZero():
		return "the namespace's last change is unknown"
	}
	return ""
}

// newClaimRules are the plugin's own rules for --namespace-prefix and
// --types, the types trimmed, empty ones dropped and each kept once.
func newClaimRules(prefix string, types []string) claimRules {
	r := claimRules{prefix: prefix}
	for _, t := range types {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(r.types, t) {
			r.types = append(r.types, t)
		}
	}
	return r
}

// checkTargets refuses what plan and reclaim refuse alike before anything
// is contacted: a namespace that cannot be one, a --max below 1, and rules
// without a prefix or a type.
func checkTargets(namespaces []string, max int, rules claimRules) error {
	m := newMasker()
	for _, ns := range namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("%q is not a namespace name: %s", m.Namespace(ns), strings.Join(errs, "; "))
		}
	}
	if max < 1 {
		return fmt.Errorf("--max must be at least 1, got %d", max)
	}
	return nil
}

// skip says why a target is not sent: a why (WhyLive, WhyChanged, ...) and
// a detail that names no token.
type skip struct {
	why    string
	detail string
}

// check returns why the fresh verdict v on ns must not be sent, or nil
// when it passes every rule of the plugin's own. It does not look at the
// evidence the operator saw: sameEvidence does.
func (r claimRules) check(ns string, v exporterclient.Verdict) *skip {
	if v.Not != nil {
		if v.Not.Why == api.WhyLive {
			return &skip{WhyLive, "the ledger has a live row for the token"}
		}
		return &skip{WhyNotReclaimable, "not a candidate now: " + v.Not.Why}
	}
	c := v.Candidate
	if !c.Reclaimable {
		return &skip{WhyNotReclaimable, "not reclaimable now: " + orNone(c.NotReclaimableReason)}
	}
	if p := r.problem(ns, c); p != "" {
		return &skip{WhyUnverifiedClaim, "the exporter calls it reclaimable, but " + p}
	}
	if b := r.belowFloor(c); b != "" {
		return &skip{WhyBelowFloor, b}
	}
	return nil
}

// sameEvidence returns why a fresh evidence digest is not the one shown at
// confirmation ("" when the target was not listed), or nil when it is.
func sameEvidence(shown, fresh string) *skip {
	switch {
	case shown == "":
		return &skip{WhyChanged, "no evidence was shown at confirmation (the latest sweep did not list it)"}
	case fresh != shown:
		return &skip{WhyChanged, "the evidence differs from the one shown at confirmation"}
	}
	return nil
}
