package exporter

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Weakened is a safety guard set weaker than its default. The exporter logs
// one config.warning for each at start, exports guard_weakened{guard} = 1,
// and publishes the guard in /candidates' policy.weakened.
type Weakened struct {
	// Guard is the flag's name without dashes, the metric's label value.
	Guard          string
	Value, Default string
}

// defaultLiveStatuses is --ledger.live-statuses' default: a terminal list
// that names one of them turns a live tenant into a reclaimable orphan.
var defaultLiveStatuses = []string{"pending", "active", "paused", "suspended"}

// guard is one safety guard and the rule that says when it is weaker than
// its default.
type guard struct {
	name string
	// weakened returns the configured value, the default, and whether the
	// value is weaker.
	weakened func(o *Options) (value, def string, weak bool)
}

func lowerDuration(name string, def time.Duration, v func(*Options) time.Duration) guard {
	return guard{name, func(o *Options) (string, string, bool) { return v(o).String(), def.String(), v(o) < def }}
}

func higherDuration(name string, def time.Duration, v func(*Options) time.Duration) guard {
	return guard{name, func(o *Options) (string, string, bool) { return v(o).String(), def.String(), v(o) > def }}
}

// Guards lists every guard in the order the warnings are logged.
var guards = []guard{
	lowerDuration("sweep.grace", time.Hour, func(o *Options) time.Duration { return o.SweepGrace }),
	{"sweep.confirmations", func(o *Options) (string, string, bool) {
		return fmt.Sprint(o.SweepConfirmations), "3", o.SweepConfirmations < 3
	}},
	{"sweep.max-candidate-fraction", func(o *Options) (string, string, bool) {
		return fmt.Sprint(o.MaxCandidateFraction), "0.5", o.MaxCandidateFraction > 0.5
	}},
	{"sweep.guard-min-namespaces", func(o *Options) (string, string, bool) {
		return fmt.Sprint(o.GuardMinNamespaces), "20", o.GuardMinNamespaces > 20
	}},
	lowerDuration("reclaim.min-evidence-age", 24*time.Hour, func(o *Options) time.Duration { return o.ReclaimMinEvidenceAge }),
	lowerDuration("reclaim.quiet-period", 24*time.Hour, func(o *Options) time.Duration { return o.ReclaimQuietPeriod }),
	higherDuration("ledger.max-replica-lag", 10*time.Second, func(o *Options) time.Duration { return o.LedgerMaxReplicaLag }),
	higherDuration("ledger.max-receiver-silence", time.Minute, func(o *Options) time.Duration { return o.LedgerMaxReceiverSilence }),
	{"contents.ignore-managers", func(o *Options) (string, string, bool) {
		managers := splitList(o.ContentsIgnoreManagers)
		return strings.Join(managers, ","), "", len(managers) > 0
	}},
	{"ledger.allow-insecure-transport", func(o *Options) (string, string, bool) {
		return fmt.Sprint(o.LedgerAllowInsecure), "false", o.LedgerAllowInsecure
	}},
	{"ledger.terminal-statuses", func(o *Options) (string, string, bool) {
		terminal := splitList(o.LedgerTerminalStatuses)
		weak := slices.ContainsFunc(terminal, func(s string) bool { return slices.Contains(defaultLiveStatuses, s) })
		return strings.Join(terminal, ","), "deleted,expired,failed,reaped", weak
	}},
}

// GuardNames lists every guard's label value, in order.
func GuardNames() []string {
	names := make([]string, len(guards))
	for i, g := range guards {
		names[i] = g.name
	}
	return names
}

// weakenedGuards returns the guards o sets weaker than their defaults.
func (o *Options) weakenedGuards() []Weakened {
	var out []Weakened
	for _, g := range guards {
		if v, def, weak := g.weakened(o); weak {
			out = append(out, Weakened{Guard: g.name, Value: v, Default: def})
		}
	}
	return out
}
