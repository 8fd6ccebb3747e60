package exporter

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/ledger"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// Environment variables the exporter reads. The safety flags enable only with
// the exact value "true"; anything else, including "TRUE" or "1", is off.
const (
	EnvEnabled     = "ORPHAN_DB_SWEEP_ENABLED"
	EnvDestructive = "ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED"
	EnvLedgerDSN   = "ORPHANS_LEDGER_DSN"
	// EnvLedgerFreshDSN is the DSN of the fresh checks' own connections, when
	// they should go elsewhere than the sweeps' (a primary instead of a replica).
	EnvLedgerFreshDSN = "ORPHANS_LEDGER_FRESH_DSN"
)

// Options are the raw command-line flags. Only Validate turns them into a
// Config the rest of the exporter accepts.
type Options struct {
	Web WebOptions

	SweepInterval        time.Duration
	SweepTimeout         time.Duration
	SweepGrace           time.Duration
	SweepConfirmations   int
	MaxCandidateFraction float64
	GuardMinNamespaces   int

	NamespacePrefix        string
	NamespaceExcludePrefix string
	NamespaceSelector      string

	LedgerDSNFile            string
	LedgerTable              string
	LedgerTokenColumn        string
	LedgerStatusColumn       string
	LedgerTypeColumn         string
	LedgerCreatedColumn      string
	LedgerTerminatedAtColumn string
	LedgerLiveStatuses       string
	LedgerTerminalStatuses   string
	LedgerQueryTimeout       time.Duration
	LedgerMaxConns           int
	LedgerFreshDSN           string
	LedgerMaxReplicaLag      time.Duration
	LedgerMaxReceiverSilence time.Duration
	LedgerSchema             string
	LedgerAllowInsecure      bool

	ReclaimTypes          string
	ReclaimMinEvidenceAge time.Duration
	ReclaimQuietPeriod    time.Duration

	ContentsInterval       time.Duration
	ContentsQPS            float64
	ContentsConcurrency    int
	ContentsBudget         int
	ContentsIgnoreManagers string
	ContentsExtraResources string
	ContentsReads          ContentsReadOptions

	Ghosts GhostOptions

	// Set when the user gave the flag; unset timeouts follow the interval.
	sweepTimeoutSet, queryTimeoutSet bool

	MetricsNamespace string
	Kubeconfig       string
	KubeTimeout      time.Duration
	KubeQPS          float64
	KubeBurst        int
}

// AddFlags registers the flags on app.
func (o *Options) AddFlags(app *kingpin.Application) {
	o.Web.addFlags(app)

	app.Flag("sweep.interval", "How often to recompute the candidates.").Default("30s").SetValue(durationValue("sweep.interval", &o.SweepInterval))
	app.Flag("sweep.timeout", "Deadline of one sweep, and of one fresh check of a namespace (default: "+computedDefaults["sweep.timeout"]+").").IsSetByUser(&o.sweepTimeoutSet).SetValue(durationValue("sweep.timeout", &o.SweepTimeout))
	app.Flag("sweep.grace", "A namespace younger than this is never a candidate.").Default("1h").SetValue(durationValue("sweep.grace", &o.SweepGrace))
	app.Flag("sweep.confirmations", "Consecutive sweeps that must see a candidate before it may be reclaimed.").Default("3").SetValue(intValue("sweep.confirmations", &o.SweepConfirmations))
	app.Flag("sweep.max-candidate-fraction", "Refuse a sweep in which more than this fraction of the namespaces past grace look orphaned (a misread ledger); 1 turns the guard off.").Default("0.5").SetValue(floatValue("sweep.max-candidate-fraction", &o.MaxCandidateFraction))
	app.Flag("sweep.guard-min-namespaces", "The max-candidate-fraction guard applies only from this many namespaces past grace.").Default("20").SetValue(intValue("sweep.guard-min-namespaces", &o.GuardMinNamespaces))

	app.Flag("namespace.prefix", "Tenant namespaces are named this prefix followed by the token.").Default("instant-customer-").StringVar(&o.NamespacePrefix)
	app.Flag("namespace.exclude-prefix", "Comma-separated name prefixes kept out of scope (pre-provisioned pool items).").Default("instant-customer-pool-").StringVar(&o.NamespaceExcludePrefix)
	app.Flag("namespace.selector", "Label selector a tenant namespace must match (applied by the API server).").Default("").StringVar(&o.NamespaceSelector)

	app.Flag("ledger.dsn-file", "File holding the ledger's PostgreSQL DSN. Alternatively set "+EnvLedgerDSN+".").Default("").StringVar(&o.LedgerDSNFile)
	app.Flag("ledger.schema", "Schema of the ledger table; the session's search_path is pinned to pg_catalog and this schema.").Default("public").StringVar(&o.LedgerSchema)
	app.Flag("ledger.table", "Ledger table, in --ledger.schema.").Default("resources").StringVar(&o.LedgerTable)
	app.Flag("ledger.token-column", "Column holding the token (uuid, text or varchar).").Default("token").StringVar(&o.LedgerTokenColumn)
	app.Flag("ledger.status-column", "Column holding the status.").Default("status").StringVar(&o.LedgerStatusColumn)
	app.Flag("ledger.type-column", "Column holding the resource type.").Default("resource_type").StringVar(&o.LedgerTypeColumn)
	app.Flag("ledger.created-column", "Column ordering a token's rows, newest last.").Default("created_at").StringVar(&o.LedgerCreatedColumn)
	app.Flag("ledger.terminated-at-column", "Optional column dating a terminal row (e.g. updated_at); when set it dates the evidence, so its age survives restarts.").Default("").StringVar(&o.LedgerTerminatedAtColumn)
	app.Flag("ledger.live-statuses", "Comma-separated statuses that make a token live, matched exactly.").Default("pending,active,paused,suspended").StringVar(&o.LedgerLiveStatuses)
	app.Flag("ledger.terminal-statuses", "Comma-separated statuses that are terminal, matched exactly; every other value (NULL, '', case variants) is unknown and never reclaimable.").Default("deleted,expired,failed,reaped").StringVar(&o.LedgerTerminalStatuses)
	app.Flag("ledger.query-timeout", "Deadline of one ledger query, on the client and the server (default: "+computedDefaults["ledger.query-timeout"]+").").IsSetByUser(&o.queryTimeoutSet).SetValue(durationValue("ledger.query-timeout", &o.LedgerQueryTimeout))
	app.Flag("ledger.max-conns", "Maximum connections of the sweeps to the ledger.").Default("2").SetValue(intValue("ledger.max-conns", &o.LedgerMaxConns))
	app.Flag("ledger.fresh-dsn", "DSN of the fresh checks' own connections (at most 4), without a password (default: the ledger DSN; or set "+EnvLedgerFreshDSN+").").Default("").StringVar(&o.LedgerFreshDSN)
	app.Flag("ledger.max-replica-lag", "On a standby, a fresh check answers 503 unless replay has caught up or the last replayed transaction is younger than this.").Default("10s").SetValue(durationValue("ledger.max-replica-lag", &o.LedgerMaxReplicaLag))
	app.Flag("ledger.max-receiver-silence", "On a standby, a fresh check answers 503 unless its WAL receiver is streaming and has heard from the primary within this.").Default("1m").SetValue(durationValue("ledger.max-receiver-silence", &o.LedgerMaxReceiverSilence))
	app.Flag("ledger.allow-insecure-transport", "Allow a ledger host that is not loopback without sslmode=verify-full or verify-ca (warns at start).").Default("false").BoolVar(&o.LedgerAllowInsecure)

	app.Flag("reclaim.types", "Comma-separated proven resource types that may be reclaimed.").Default("redis").StringVar(&o.ReclaimTypes)
	app.Flag("reclaim.min-evidence-age", "How long the evidence of a candidate must have held before it may be reclaimed; 0 for no minimum.").Default("24h").SetValue(durationValue("reclaim.min-evidence-age", &o.ReclaimMinEvidenceAge))

	o.Ghosts.addFlags(app)
	app.Flag("reclaim.quiet-period", "How long nothing may have changed inside a candidate's namespace before it may be reclaimed; 0 for no minimum.").Default("24h").SetValue(durationValue("reclaim.quiet-period", &o.ReclaimQuietPeriod))
	app.Flag("contents.interval", "How often to read what the candidates' namespaces hold; 0 turns contents off, and then nothing is reclaimable.").Default("5m").SetValue(durationValue("contents.interval", &o.ContentsInterval))
	app.Flag("contents.qps", "Client-side limit of the contents reads' Kubernetes API requests per second.").Default("5").SetValue(floatValue("contents.qps", &o.ContentsQPS))
	app.Flag("contents.concurrency", "Namespaces whose contents are read at once.").Default("4").SetValue(intValue("contents.concurrency", &o.ContentsConcurrency))
	app.Flag("contents.budget", "Most namespaces the contents loop reads per --contents.interval (fresh checks aside), and never more than --contents.qps lets through in an interval; beyond it, the unread and the longest unread wait for the next interval, and an unread candidate is not reclaimable.").Default("1000").SetValue(intValue("contents.budget", &o.ContentsBudget))
	app.Flag("contents.ignore-managers", "Comma-separated field managers whose changes do not count as a change inside a namespace.").Default("").StringVar(&o.ContentsIgnoreManagers)
	o.ContentsReads.addFlags(app)
	app.Flag("contents.extra-resources", "Comma-separated group/version/resource read besides the built-in kinds for the last change (e.g. an operator's CRDs); Secrets are refused in any spelling.").Default("").StringVar(&o.ContentsExtraResources)

	app.Flag("metrics.namespace", "Prefix of the exporter's metric names.").Default("instant").StringVar(&o.MetricsNamespace)
	app.Flag("kubeconfig", "Path to a kubeconfig; empty means in-cluster, then $KUBECONFIG and ~/.kube/config.").Default("").StringVar(&o.Kubeconfig)
	app.Flag("kubernetes.timeout", "Deadline of one Kubernetes API request (watches excepted).").Default("10s").SetValue(durationValue("kubernetes.timeout", &o.KubeTimeout))
	app.Flag("kubernetes.qps", "Client-side limit of Kubernetes API requests per second; a negative value turns the limit off.").Default("5").SetValue(floatValue("kubernetes.qps", &o.KubeQPS))
	app.Flag("kubernetes.burst", "Requests allowed above --kubernetes.qps in a burst.").Default("10").SetValue(intValue("kubernetes.burst", &o.KubeBurst))
}

// computedDefaults are the defaults that follow other flags, so that setting
// only --sweep.interval gives a working configuration.
var computedDefaults = map[string]string{
	"sweep.timeout":        "min(10s, --sweep.interval)",
	"ledger.query-timeout": "min(5s, --sweep.timeout)",
	"ghosts.timeout":       "min(60s, --ghosts.interval)",
}

// Config is a validated configuration. Only Options.Validate makes one.
type Config struct {
	Web WebConfig

	// Enabled is the master flag. Destructive is the effective destructive
	// state: both flags on. It is computed here, once.
	Enabled     bool
	Destructive bool

	Interval time.Duration
	Timeout  time.Duration
	Policy   sweep.Policy
	Selector string

	// Ledger has no DSN when the sweep is disabled and none was given.
	// FreshLedger is the fresh checks' own pool (4 connections).
	Ledger        ledger.Config
	FreshLedger   ledger.Config
	MaxReplicaLag time.Duration
	// MaxReceiverSilence is how long a standby's WAL receiver may have gone
	// without hearing from the primary for a fresh check to count.
	MaxReceiverSilence time.Duration
	Ghosts             GhostConfig
	MetricsNamespace   string
	Kube               kube.ClientOptions

	// ContentsInterval is 0 when contents are off. Contents has no OnRequest.
	ContentsInterval    time.Duration
	ContentsConcurrency int
	// ContentsBudget is the most namespaces the contents loop reads per
	// ContentsInterval.
	ContentsBudget int
	Contents       kube.ContentsOptions
	// FreshContents is the fresh checks' contents reader, on a limiter of its own.
	FreshContents kube.ContentsOptions

	// Warnings are worth logging at start-up but do not stop it.
	Warnings []string
	// Weakened are the guards set weaker than their defaults.
	Weakened []Weakened
}

// Redactor masks tokens after the tenant prefixes, for logs and error texts.
func (c Config) Redactor() *logsafe.Redactor {
	return logsafe.NewRedactor(append([]string{c.Policy.Prefix}, c.Policy.ExcludePrefixes...)...)
}

// Env reads an environment variable; os.LookupEnv in production.
type Env func(string) (string, bool)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	prefixRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*)?$`)
)

// Validate checks every option and returns the Config, or an error that names
// the offending flag in one line.
func (o *Options) Validate(env Env) (Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	c := Config{MetricsNamespace: o.MetricsNamespace, Selector: o.NamespaceSelector}
	var err error
	if c.Web, err = o.Web.validate(); err != nil {
		return Config{}, err
	}
	if err := o.validateSweep(); err != nil {
		return Config{}, err
	}
	excludes, selector, err := o.validateNamespaces()
	if err != nil {
		return Config{}, err
	}
	live, terminal, err := o.validateStatuses()
	if err != nil {
		return Config{}, err
	}
	extra, err := o.validateContents()
	if err != nil {
		return Config{}, err
	}
	if err := o.validateLedger(); err != nil {
		return Config{}, err
	}
	if err := o.validateKube(); err != nil {
		return Config{}, err
	}
	if err := o.Ghosts.validate(); err != nil {
		return Config{}, err
	}
	dsn, freshDSN, err := o.validateSafety(env, &c)
	if err != nil {
		return Config{}, err
	}

	c.Weakened = o.weakenedGuards()
	c.Interval, c.Timeout = o.SweepInterval, o.SweepTimeout
	c.Policy = sweep.Policy{
		Prefix:               o.NamespacePrefix,
		ExcludePrefixes:      excludes,
		Selector:             selector,
		Grace:                o.SweepGrace,
		LiveStatuses:         live,
		TerminalStatuses:     terminal,
		Confirmations:        o.SweepConfirmations,
		MinEvidenceAge:       o.ReclaimMinEvidenceAge,
		QuietPeriod:          o.ReclaimQuietPeriod,
		ContentsEnabled:      o.ContentsInterval > 0,
		TerminatedAtColumn:   o.LedgerTerminatedAtColumn != "",
		ReclaimTypes:         splitList(o.ReclaimTypes),
		Enabled:              c.Enabled,
		Destructive:          c.Destructive,
		MaxCandidateFraction: o.MaxCandidateFraction,
		GuardMinNamespaces:   o.GuardMinNamespaces,
	}
	c.Ledger = ledger.Config{
		DSN:                dsn,
		Schema:             o.LedgerSchema,
		Table:              o.LedgerTable,
		TokenColumn:        o.LedgerTokenColumn,
		StatusColumn:       o.LedgerStatusColumn,
		TypeColumn:         o.LedgerTypeColumn,
		CreatedColumn:      o.LedgerCreatedColumn,
		TerminatedAtColumn: o.LedgerTerminatedAtColumn,
		QueryTimeout:       o.LedgerQueryTimeout,
		MaxConns:           int32(o.LedgerMaxConns),
		ApplicationName:    "orphans-exporter",
	}
	c.FreshLedger = c.Ledger
	c.FreshLedger.DSN = freshDSN
	c.FreshLedger.MaxConns = FreshChecks
	c.FreshLedger.ApplicationName = "orphans-exporter-fresh"
	c.MaxReplicaLag, c.MaxReceiverSilence = o.LedgerMaxReplicaLag, o.LedgerMaxReceiverSilence
	c.Kube = kube.ClientOptions{Kubeconfig: o.Kubeconfig, Timeout: o.KubeTimeout, UserAgent: "orphans-exporter",
		QPS: float32(o.KubeQPS), Burst: o.KubeBurst}
	c.Ghosts = o.Ghosts.config(c)
	c.ContentsInterval, c.ContentsConcurrency, c.ContentsBudget = o.ContentsInterval, o.ContentsConcurrency, o.ContentsBudget
	c.Contents = kube.ContentsOptions{QPS: float32(o.ContentsQPS), Burst: max(1, int(o.ContentsQPS), o.ContentsConcurrency),
		IgnoreManagers: splitList(o.ContentsIgnoreManagers), Extra: extra}
	o.ContentsReads.config(&c, o.KubeTimeout)
	return c, nil
}

// badFlag is the error of a flag's value.
func badFlag(flag string, format string, args ...any) error {
	return fmt.Errorf("invalid --%s: %s", flag, fmt.Sprintf(format, args...))
}

// validateSweep checks the sweep's timing and guards and the reclaim
// minimums, and fills in the timeouts left at their defaults.
func (o *Options) validateSweep() error {
	if o.SweepInterval < time.Second {
		return badFlag("sweep.interval", "%s: must be at least 1s", o.SweepInterval)
	}
	if !o.sweepTimeoutSet {
		o.SweepTimeout = min(10*time.Second, o.SweepInterval)
	}
	if !o.queryTimeoutSet {
		o.LedgerQueryTimeout = min(5*time.Second, o.SweepTimeout)
	}
	if o.SweepTimeout <= 0 || o.SweepTimeout > o.SweepInterval {
		return badFlag("sweep.timeout", "%s: must be positive and at most --sweep.interval (%s)", o.SweepTimeout, o.SweepInterval)
	}
	if o.SweepGrace < 0 {
		return badFlag("sweep.grace", "%s: must not be negative", o.SweepGrace)
	}
	if o.SweepConfirmations < 1 {
		return badFlag("sweep.confirmations", "%d: must be at least 1", o.SweepConfirmations)
	}
	if !(o.MaxCandidateFraction > 0 && o.MaxCandidateFraction <= 1) {
		return badFlag("sweep.max-candidate-fraction", "%v: must be in (0, 1]", o.MaxCandidateFraction)
	}
	if o.GuardMinNamespaces < 1 {
		return badFlag("sweep.guard-min-namespaces", "%d: must be at least 1", o.GuardMinNamespaces)
	}
	if o.ReclaimMinEvidenceAge < 0 {
		return badFlag("reclaim.min-evidence-age", "%s: must not be negative", o.ReclaimMinEvidenceAge)
	}
	if o.ReclaimQuietPeriod < 0 {
		return badFlag("reclaim.quiet-period", "%s: must not be negative", o.ReclaimQuietPeriod)
	}
	return nil
}

// validateNamespaces checks which namespaces are in scope.
func (o *Options) validateNamespaces() (excludes []string, selector labels.Selector, err error) {
	if !prefixRE.MatchString(o.NamespacePrefix) || len(o.NamespacePrefix) >= validation.DNS1123LabelMaxLength {
		return nil, nil, badFlag("namespace.prefix", "%q: must be the start of a namespace name (lower-case letters, digits and '-', shorter than 63)", o.NamespacePrefix)
	}
	excludes = splitList(o.NamespaceExcludePrefix)
	for _, ex := range excludes {
		if !prefixRE.MatchString(ex) {
			return nil, nil, badFlag("namespace.exclude-prefix", "%q: must be the start of a namespace name", ex)
		}
	}
	if o.NamespaceSelector != "" {
		if selector, err = labels.Parse(o.NamespaceSelector); err != nil {
			return nil, nil, badFlag("namespace.selector", "%v", err)
		}
	}
	return excludes, selector, nil
}

// validateStatuses checks the live and terminal status lists: neither
// empty, no status in both.
func (o *Options) validateStatuses() (live, terminal []string, err error) {
	live = splitList(o.LedgerLiveStatuses)
	if len(live) == 0 {
		return nil, nil, badFlag("ledger.live-statuses", "empty: at least one status must be live")
	}
	terminal = splitList(o.LedgerTerminalStatuses)
	if len(terminal) == 0 {
		return nil, nil, badFlag("ledger.terminal-statuses", "empty: without a terminal status nothing is ever an orphan with a proven type")
	}
	for _, s := range terminal {
		if slices.Contains(live, s) {
			return nil, nil, badFlag("ledger.terminal-statuses", "%q is also in --ledger.live-statuses; a status is live or terminal, not both", s)
		}
	}
	return live, terminal, nil
}

// validateContents checks the contents reads and parses the extra
// resources (Secrets refused in any spelling).
func (o *Options) validateContents() ([]schema.GroupVersionResource, error) {
	if o.ContentsInterval < 0 {
		return nil, badFlag("contents.interval", "%s: must not be negative", o.ContentsInterval)
	}
	if !(o.ContentsQPS > 0) {
		return nil, badFlag("contents.qps", "%v: must be positive", o.ContentsQPS)
	}
	if o.ContentsConcurrency < 1 || o.ContentsConcurrency > 64 {
		return nil, badFlag("contents.concurrency", "%d: must be between 1 and 64", o.ContentsConcurrency)
	}
	if o.ContentsBudget < 1 {
		return nil, badFlag("contents.budget", "%d: must be at least 1", o.ContentsBudget)
	}
	if err := o.ContentsReads.validate(); err != nil {
		return nil, err
	}
	var extra []schema.GroupVersionResource
	for _, r := range splitList(o.ContentsExtraResources) {
		gvr, err := kube.ParseResource(r)
		if err != nil {
			return nil, badFlag("contents.extra-resources", "%v", err)
		}
		extra = append(extra, gvr)
	}
	return extra, nil
}

// validateLedger checks the ledger's table, columns, freshness limits,
// timeouts and pool.
func (o *Options) validateLedger() error {
	if o.LedgerMaxReplicaLag <= 0 {
		return badFlag("ledger.max-replica-lag", "%s: must be positive", o.LedgerMaxReplicaLag)
	}
	if o.LedgerMaxReceiverSilence <= 0 {
		return badFlag("ledger.max-receiver-silence", "%s: must be positive", o.LedgerMaxReceiverSilence)
	}
	for _, f := range []struct{ flag, value string }{
		{"ledger.schema", o.LedgerSchema}, {"ledger.table", o.LedgerTable}, {"ledger.token-column", o.LedgerTokenColumn},
		{"ledger.status-column", o.LedgerStatusColumn}, {"ledger.type-column", o.LedgerTypeColumn}, {"ledger.created-column", o.LedgerCreatedColumn},
	} {
		if strings.TrimSpace(f.value) == "" {
			return badFlag(f.flag, "empty")
		}
	}
	if strings.Contains(o.LedgerTable, ".") {
		return badFlag("ledger.table", "%q: give the table's name alone and its schema with --ledger.schema", o.LedgerTable)
	}
	if o.LedgerTerminatedAtColumn != "" && o.LedgerTerminatedAtColumn == o.LedgerCreatedColumn {
		return badFlag("ledger.terminated-at-column", "%q is also --ledger.created-column: a row's creation does not date its termination, and every terminal row would look terminated long ago", o.LedgerTerminatedAtColumn)
	}
	if o.LedgerQueryTimeout <= 0 || o.LedgerQueryTimeout > o.SweepTimeout {
		return badFlag("ledger.query-timeout", "%s: must be positive and at most --sweep.timeout (%s)", o.LedgerQueryTimeout, o.SweepTimeout)
	}
	if o.LedgerMaxConns < 1 || o.LedgerMaxConns > 100 {
		return badFlag("ledger.max-conns", "%d: must be between 1 and 100", o.LedgerMaxConns)
	}
	return nil
}

// validateKube checks the metric prefix and the Kubernetes client's limits.
func (o *Options) validateKube() error {
	if !metricNameRE.MatchString(o.MetricsNamespace) {
		return badFlag("metrics.namespace", "%q: must be a metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)", o.MetricsNamespace)
	}
	if o.KubeTimeout <= 0 {
		return badFlag("kubernetes.timeout", "%s: must be positive", o.KubeTimeout)
	}
	if o.KubeQPS == 0 {
		return badFlag("kubernetes.qps", "0: must be positive, or negative for no limit")
	}
	if o.KubeQPS > 0 && o.KubeBurst < 1 {
		return badFlag("kubernetes.burst", "%d: must be at least 1", o.KubeBurst)
	}
	return nil
}

// validateSafety reads the two safety flags from the environment into c,
// then the ledger's DSNs, whose transport must be verified TLS unless
// --ledger.allow-insecure-transport (a warning in c then).
func (o *Options) validateSafety(env Env, c *Config) (dsn, freshDSN string, err error) {
	var destructive bool
	c.Enabled, c.Warnings = flagFromEnv(env, EnvEnabled, c.Warnings)
	destructive, c.Warnings = flagFromEnv(env, EnvDestructive, c.Warnings)
	if destructive && !c.Enabled {
		c.Warnings = append(c.Warnings, EnvDestructive+" is true but "+EnvEnabled+" is not: nothing is swept, nothing is reclaimable")
	}
	c.Destructive = c.Enabled && destructive

	if dsn, err = readDSN(o.LedgerDSNFile, env); err != nil {
		return "", "", err
	}
	if dsn == "" && c.Enabled {
		return "", "", fmt.Errorf("no ledger DSN: set %s or --ledger.dsn-file (required when %s=true)", EnvLedgerDSN, EnvEnabled)
	}
	if freshDSN, err = o.freshDSN(env, dsn); err != nil {
		return "", "", err
	}
	for _, d := range []struct{ name, dsn string }{{"ledger DSN", dsn}, {"fresh-check ledger DSN", freshDSN}} {
		if d.dsn == "" || (d.name != "ledger DSN" && d.dsn == dsn) {
			continue
		}
		if _, err := pgxpool.ParseConfig(d.dsn); err != nil {
			// pgx masks the password in its parse errors.
			return "", "", fmt.Errorf("invalid %s: %w", d.name, err)
		}
		if err := ledger.CheckTransport(d.dsn); err != nil {
			if !o.LedgerAllowInsecure {
				return "", "", fmt.Errorf("insecure %s: %w", d.name, err)
			}
			c.Warnings = append(c.Warnings, "--ledger.allow-insecure-transport: "+err.Error())
		}
	}
	return dsn, freshDSN, nil
}

// FreshChecks is how many fresh checks run at once, each on its own ledger
// connection; more are answered 429.
const FreshChecks = 4

// freshDSN is the fresh checks' DSN: --ledger.fresh-dsn (which must not carry
// a password: command lines are visible to every local user), or
// $ORPHANS_LEDGER_FRESH_DSN, or else the sweeps' DSN.
func (o *Options) freshDSN(env Env, dsn string) (string, error) {
	fromEnv, _ := env(EnvLedgerFreshDSN)
	fromEnv = strings.TrimSpace(fromEnv)
	switch {
	case o.LedgerFreshDSN != "" && fromEnv != "":
		return "", fmt.Errorf("invalid --ledger.fresh-dsn: %s is set too; give the fresh-check DSN one way only", EnvLedgerFreshDSN)
	case o.LedgerFreshDSN != "":
		cfg, err := pgxpool.ParseConfig(o.LedgerFreshDSN)
		if err != nil {
			return "", fmt.Errorf("invalid --ledger.fresh-dsn: %w", err)
		}
		if cfg.ConnConfig.Password != "" {
			if _, fromPG := os.LookupEnv("PGPASSWORD"); !fromPG {
				return "", fmt.Errorf("invalid --ledger.fresh-dsn: it carries a password; use a password file or %s", EnvLedgerFreshDSN)
			}
		}
		return o.LedgerFreshDSN, nil
	case fromEnv != "":
		return fromEnv, nil
	}
	return dsn, nil
}

func flagFromEnv(env Env, name string, warnings []string) (bool, []string) {
	v, ok := env(name)
	if !ok || v == "true" {
		return ok, warnings
	}
	if v != "false" && v != "" {
		warnings = append(warnings, fmt.Sprintf("%s=%q is not exactly \"true\": treated as off", name, v))
	}
	return false, warnings
}

func readDSN(file string, env Env) (string, error) {
	fromEnv, inEnv := env(EnvLedgerDSN)
	if file == "" {
		return strings.TrimSpace(fromEnv), nil
	}
	if inEnv && strings.TrimSpace(fromEnv) != "" {
		return "", fmt.Errorf("invalid --ledger.dsn-file: %s is set too; give the DSN one way only", EnvLedgerDSN)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("invalid --ledger.dsn-file: %w", err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", errors.New("invalid --ledger.dsn-file: the file is empty")
	}
	return dsn, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// flagValue parses one typed flag and names the flag when the value is bad;
// kingpin's own parsers report only the value.
type flagValue[T any] struct {
	name  string
	dst   *T
	parse func(string) (T, error)
}

func (f *flagValue[T]) Set(s string) error {
	v, err := f.parse(s)
	if err != nil {
		return fmt.Errorf("invalid --%s %q: %v", f.name, s, err)
	}
	*f.dst = v
	return nil
}

func (f *flagValue[T]) String() string { return fmt.Sprint(*f.dst) }

func durationValue(name string, dst *time.Duration) *flagValue[time.Duration] {
	return &flagValue[time.Duration]{name: name, dst: dst, parse: func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errors.New("want a duration such as 30s, 5m or 1h")
		}
		return d, nil
	}}
}

func intValue(name string, dst *int) *flagValue[int] {
	return &flagValue[int]{name: name, dst: dst, parse: func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, errors.New("want a whole number")
		}
		return n, nil
	}}
}

func floatValue(name string, dst *float64) *flagValue[float64] {
	return &flagValue[float64]{name: name, dst: dst, parse: func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, errors.New("want a number")
		}
		return f, nil
	}}
}
