package exporter

import (
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/orphansweep/orphans/internal/ledger"
	"github.com/orphansweep/orphans/internal/sweep"
)

// GhostOptions are the raw --ghosts.* flags.
type GhostOptions struct {
	Interval     time.Duration
	Grace        time.Duration
	Types        string
	FilterColumn string
	FilterValue  string
	Timeout      time.Duration
	timeoutSet   bool
	ConfirmQPS   float64
}

func (o *GhostOptions) addFlags(app *kingpin.Application) {
	app.Flag("ghosts.interval", "How often to look for live ledger rows without a namespace; 0 turns ghosts off.").Default("10m").SetValue(durationValue("ghosts.interval", &o.Interval))
	app.Flag("ghosts.grace", "A live row younger than this (by its created column) is never a ghost.").Default("1h").SetValue(durationValue("ghosts.grace", &o.Grace))
	app.Flag("ghosts.types", "Comma-separated resource types a ghost may have; empty for every type.").Default("").StringVar(&o.Types)
	app.Flag("ghosts.filter-column", "Ledger column that restricts ghost rows to this cluster's (with --ghosts.filter-value), for a ledger shared by several clusters.").Default("").StringVar(&o.FilterColumn)
	app.Flag("ghosts.filter-value", "Value of --ghosts.filter-column in this cluster's rows.").Default("").StringVar(&o.FilterValue)
	app.Flag("ghosts.confirm-qps", "With --namespace.selector: client-side limit, in requests per second, of the namespace GETs that confirm each ghost, on a client of their own.").Default("10").SetValue(floatValue("ghosts.confirm-qps", &o.ConfirmQPS))
	app.Flag("ghosts.timeout", "Deadline of one ghost sweep and of its ledger statement (default: "+computedDefaults["ghosts.timeout"]+").").IsSetByUser(&o.timeoutSet).SetValue(durationValue("ghosts.timeout", &o.Timeout))
}

// GhostConfig is the validated configuration of ghost sweeps.
type GhostConfig struct {
	// Enabled: the master flag is on and the interval is not 0. Off says why not.
	Enabled  bool
	Off      string
	Interval time.Duration
	Timeout  time.Duration
	Policy   sweep.GhostPolicy
	Ledger   ledger.GhostConfig
	// ConfirmQPS and ConfirmBurst limit the GETs that confirm ghosts under
	// --namespace.selector.
	ConfirmQPS   float32
	ConfirmBurst int
}

// validate checks the --ghosts.* flags; the error names the flag in one line.
func (o *GhostOptions) validate() error {
	bad := func(flag string, format string, args ...any) error {
		return fmt.Errorf("invalid --%s: %s", flag, fmt.Sprintf(format, args...))
	}
	if o.Interval < 0 || o.Interval > 0 && o.Interval < time.Second {
		return bad("ghosts.interval", "%s: must be 0 (off) or at least 1s", o.Interval)
	}
	if !o.timeoutSet {
		o.Timeout = 60 * time.Second
		if o.Interval > 0 {
			o.Timeout = min(o.Timeout, o.Interval)
		}
	}
	if o.Timeout <= 0 || o.Interval > 0 && o.Timeout > o.Interval {
		return bad("ghosts.timeout", "%s: must be positive and at most --ghosts.interval (%s)", o.Timeout, o.Interval)
	}
	if o.Grace < 0 {
		return bad("ghosts.grace", "%s: must not be negative", o.Grace)
	}
	if !(o.ConfirmQPS > 0) {
		return bad("ghosts.confirm-qps", "%v: must be positive", o.ConfirmQPS)
	}
	column := strings.TrimSpace(o.FilterColumn)
	switch {
	case column == "" && o.FilterColumn != "":
		return bad("ghosts.filter-column", "%q: not a column name", o.FilterColumn)
	case column != "" && o.FilterValue == "":
		return bad("ghosts.filter-value", "empty: --ghosts.filter-column needs the value of this cluster's rows")
	case column == "" && o.FilterValue != "":
		return bad("ghosts.filter-column", "empty: --ghosts.filter-value needs the column it is compared with")
	}
	return nil
}

// config assembles the ghost configuration from the validated rest.
func (o *GhostOptions) config(c Config) GhostConfig {
	g := GhostConfig{
		Enabled: c.Enabled && o.Interval > 0, Interval: o.Interval, Timeout: o.Timeout,
		ConfirmQPS: float32(o.ConfirmQPS), ConfirmBurst: max(1, int(o.ConfirmQPS)),
		Policy: sweep.GhostPolicy{
			Prefix: c.Policy.Prefix, Grace: o.Grace,
			MaxFraction: c.Policy.MaxCandidateFraction, GuardMin: c.Policy.GuardMinNamespaces,
		},
	}
	switch {
	case !c.Enabled:
		g.Off = "ghosts disabled: " + EnvEnabled + " is not \"true\""
	case o.Interval == 0:
		g.Off = "ghosts disabled: --ghosts.interval=0"
	}
	g.Ledger = ledger.GhostConfig{
		Config: c.Ledger, LiveStatuses: c.Policy.LiveStatuses, Types: splitList(o.Types),
		FilterColumn: o.FilterColumn, FilterValue: o.FilterValue,
	}
	g.Ledger.QueryTimeout = o.Timeout
	g.Ledger.ApplicationName = "orphans-exporter-ghosts"
	return g
}
