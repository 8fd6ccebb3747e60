package plugin

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
)

// WhyBelowFloor: the fresh verdict is below one of the plugin's floors.
const WhyBelowFloor = "below_floor"

// Defaults of the plugin's floors, which only an operator's flag lowers.
const (
	defaultMinEvidenceAge   = 24 * time.Hour
	defaultQuietPeriod      = 24 * time.Hour
	defaultMinConfirmations = 3
	defaultMinNamespaceAge  = time.Hour
)

// RuleFlags are the plugin's own rules on a fresh verdict, declared once
// for plan, plan show and reclaim.
type RuleFlags struct {
	NamespacePrefix  string
	Types            []string
	MinEvidenceAge   time.Duration
	QuietPeriod      time.Duration
	MinConfirmations int
	MinNamespaceAge  time.Duration
}

func defaultRuleFlags() RuleFlags {
	return RuleFlags{
		NamespacePrefix: defaultPrefix, Types: []string{"redis"},
		MinEvidenceAge: defaultMinEvidenceAge, QuietPeriod: defaultQuietPeriod,
		MinConfirmations: defaultMinConfirmations, MinNamespaceAge: defaultMinNamespaceAge,
	}
}

// AddFlags declares the rules' flags; typesHelp says what --types does for
// the command.
func (f *RuleFlags) AddFlags(fs *pflag.FlagSet, typesHelp string) {
	fs.StringVar(&f.NamespacePrefix, "namespace-prefix", f.NamespacePrefix, "Tenant namespace prefix: a target's namespace must be this plus its token.")
	fs.StringSliceVar(&f.Types, "types", f.Types, typesHelp)
	fs.DurationVar(&f.MinEvidenceAge, "min-evidence-age", f.MinEvidenceAge, "Skip a target whose evidence (evidence_since) is younger than this. Lowering it is shown and sent to the platform.")
	fs.DurationVar(&f.QuietPeriod, "quiet-period", f.QuietPeriod, "Skip a target whose namespace changed (contents.last_change_at) more recently than this. Lowering it is shown and sent to the platform.")
	fs.IntVar(&f.MinConfirmations, "min-confirmations", f.MinConfirmations, "Skip a target seen in fewer consecutive sweeps than this. Lowering it is shown and sent to the platform.")
	fs.DurationVar(&f.MinNamespaceAge, "min-namespace-age", f.MinNamespaceAge, "Skip a target whose namespace is younger than this. Lowering it is shown and sent to the platform.")
}

// verdictReader is what plan, plan show and reclaim read fresh verdicts
// with and judge them by: the clock, the rules of their RuleFlags, and the
// exporter's and the cluster's clients.
type verdictReader struct {
	now      func() time.Time
	rules    claimRules
	exporter *exporterclient.Client
	kube     kubernetes.Interface
}

// complete sets the clock (unless set), validates flags into the rules
// and builds the exporter's client; it contacts nothing. The cluster's
// client is left to the command, which says what a kubeconfig error refuses.
func (v *verdictReader) complete(root *RootOptions, flags RuleFlags) error {
	if v.now == nil {
		v.now = time.Now
	}
	var err error
	if v.rules, err = flags.claimRules(v.now); err != nil {
		return err
	}
	v.exporter, err = root.exporterClient()
	return err
}

// claimRules validates the flags and returns the rules they set.
func (f RuleFlags) claimRules(now func() time.Time) (claimRules, error) {
	r := newClaimRules(f.NamespacePrefix, f.Types)
	switch {
	case r.prefix == "":
		return r, errors.New("--namespace-prefix must not be empty")
	case len(r.types) == 0:
		return r, errors.New("--types must name at least one resource type")
	case f.MinEvidenceAge < 0:
		return r, fmt.Errorf("--min-evidence-age must not be negative, got %s", f.MinEvidenceAge)
	case f.QuietPeriod < 0:
		return r, fmt.Errorf("--quiet-period must not be negative, got %s", f.QuietPeriod)
	case f.MinConfirmations < 1:
		return r, fmt.Errorf("--min-confirmations must be at least 1, got %d", f.MinConfirmations)
	case f.MinNamespaceAge < 0:
		return r, fmt.Errorf("--min-namespace-age must not be negative, got %s", f.MinNamespaceAge)
	}
	r.floors = api.Floors{
		MinEvidenceAgeSeconds: int64(f.MinEvidenceAge / time.Second), QuietPeriodSeconds: int64(f.QuietPeriod / time.Second),
		MinConfirmations: f.MinConfirmations, MinNamespaceAgeSeconds: int64(f.MinNamespaceAge / time.Second),
	}
	for _, l := range []struct {
		flag    string
		lowered bool
	}{
		{"min-evidence-age", f.MinEvidenceAge < defaultMinEvidenceAge},
		{"quiet-period", f.QuietPeriod < defaultQuietPeriod},
		{"min-confirmations", f.MinConfirmations < defaultMinConfirmations},
		{"min-namespace-age", f.MinNamespaceAge < defaultMinNamespaceAge},
	} {
		if l.lowered {
			r.floors.Lowered = append(r.floors.Lowered, l.flag)
		}
	}
	r.now = now
	return r, nil
}

// loweredFloors returns the floors to send in the evidence: nil unless the
// operator lowered one.
func (r claimRules) loweredFloors() *api.Floors {
	if len(r.floors.Lowered) == 0 {
		return nil
	}
	f := r.floors
	return &f
}

// floorsText describes the floors for the confirmation screen, the lowered
// ones called out.
func (r claimRules) floorsText() string {
	f := r.floors
	s := fmt.Sprintf("evidence age >= %s, quiet period >= %s, confirmations >= %d, namespace age >= %s",
		seconds(f.MinEvidenceAgeSeconds), seconds(f.QuietPeriodSeconds), f.MinConfirmations, seconds(f.MinNamespaceAgeSeconds))
	if len(f.Lowered) > 0 {
		s += fmt.Sprintf(" (LOWERED below the defaults: %v)", f.Lowered)
	}
	return s
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// belowFloor returns why candidate c is below one of the floors, or "".
func (r claimRules) belowFloor(c *api.Candidate) string {
	now := r.now()
	f := r.floors
	switch {
	case c.EvidenceSince.IsZero() || now.Sub(c.EvidenceSince) < seconds(f.MinEvidenceAgeSeconds):
		return fmt.Sprintf("the evidence is younger than --min-evidence-age %s", seconds(f.MinEvidenceAgeSeconds))
	case c.Contents == nil || c.Contents.LastChangeAt.IsZero() || now.Sub(c.Contents.LastChangeAt) < seconds(f.QuietPeriodSeconds):
		return fmt.Sprintf("the namespace changed within --quiet-period %s", seconds(f.QuietPeriodSeconds))
	case c.ConsecutiveSweeps < f.MinConfirmations:
		return fmt.Sprintf("seen in %d consecutive sweeps, fewer than --min-confirmations %d", c.ConsecutiveSweeps, f.MinConfirmations)
	case c.NamespaceCreatedAt.IsZero() || now.Sub(c.NamespaceCreatedAt) < seconds(f.MinNamespaceAgeSeconds):
		return fmt.Sprintf("the namespace is younger than --min-namespace-age %s", seconds(f.MinNamespaceAgeSeconds))
	}
	return ""
}

// showWeakened says which of the exporter's guards are set weaker than
// their defaults (its policy.weakened), if any.
func showWeakened(w io.Writer, weakened []string) {
	if len(weakened) > 0 {
		fmt.Fprintf(w, "WARNING: the exporter runs with guards weakened below their defaults: %s\n", strings.Join(weakened, ", "))
	}
}
