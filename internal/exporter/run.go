// Package exporter is orphans-exporter: it keeps a cache of the cluster's
// namespaces, asks the ledger about the tenant ones on every sweep interval,
// and publishes the orphan candidates as Prometheus metrics and JSON. It is
// audit-only: nothing in it deletes or writes anything, anywhere.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"k8s.io/klog/v2"

	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/kube/scrapeauth"
	"github.com/orphansweep/orphans/internal/ledger"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// Name is the program name used in metrics and logs.
const Name = "orphans-exporter"

// Exporter is one orphans-exporter: its sources, its sweeper and its HTTP surface.
type Exporter struct {
	cfg         Config
	log         *slog.Logger
	sweeper     *Sweeper
	server      *Server
	namespaces  *kube.Namespaces
	ledger      *ledger.Ledger
	freshLedger *ledger.Ledger
	ghosts      *GhostSweeper
	ghostLedger *ledger.Ghosts
	// ghostGetter confirms ghosts under --namespace.selector; nil otherwise.
	ghostGetter NamespaceGetter
	// ghostSource is what the ghost sweeper reads; nil when ghosts are off.
	ghostSource GhostLedger
	// contentsReader (the loop's) and freshContentsReader (the fresh
	// checks', on a limiter of its own) are nil when the sweep or contents
	// are off.
	contentsReader, freshContentsReader ContentsReader
	contents                            *contentsLoop
	// sightings are the contents readers' shared memory; nil with contents off.
	sightings *kube.Sightings
	// scrapeAuth is nil unless --web.auth=kubernetes.
	scrapeAuth *scrapeauth.Auth
	reg        *prometheus.Registry
	// metricsHandler and apiHandler are the two listeners' surfaces.
	metricsHandler, apiHandler http.Handler
}

// New wires an exporter. With the sweep disabled it builds no Kubernetes
// client and no database pool at all.
func New(cfg Config, log *slog.Logger) (*Exporter, error) {
	e := &Exporter{cfg: cfg, log: log}
	var (
		ns    NamespaceSource = disabledSource{}
		led   LedgerSource    = disabledSource{}
		fresh FreshLedger     = disabledSource{}
	)
	if cfg.Web.KubernetesAuth {
		restCfg, err := kube.RESTConfig(cfg.Kube)
		if err != nil {
			return nil, err
		}
		if e.scrapeAuth, err = scrapeauth.New(restCfg, log); err != nil {
			return nil, err
		}
	}
	if cfg.Enabled {
		restCfg, err := kube.RESTConfig(cfg.Kube)
		if err != nil {
			return nil, err
		}
		if e.namespaces, err = kube.NewNamespaces(restCfg, cfg.Selector); err != nil {
			return nil, err
		}
		if e.ledger, err = ledger.Open(cfg.Ledger); err != nil {
			return nil, err
		}
		if e.freshLedger, err = ledger.Open(cfg.FreshLedger); err != nil {
			e.Close()
			return nil, err
		}
		if cfg.Ghosts.Enabled {
			if e.ghostLedger, err = ledger.OpenGhosts(cfg.Ghosts.Ledger); err != nil {
				e.Close()
				return nil, err
			}
			e.ghostSource = e.ghostLedger
			if cfg.Selector != "" {
				if e.ghostGetter, err = kube.NewNamespaceGetter(restCfg, cfg.Ghosts.ConfirmQPS, cfg.Ghosts.ConfirmBurst); err != nil {
					e.Close()
					return nil, err
				}
			}
		}
		ns, led, fresh = e.namespaces, e.ledger, e.freshLedger
		if cfg.ContentsInterval > 0 {
			e.sightings = kube.NewSightings()
			for _, r := range []struct {
				opts   kube.ContentsOptions
				reader *ContentsReader
			}{{cfg.Contents, &e.contentsReader}, {cfg.FreshContents, &e.freshContentsReader}} {
				r.opts.OnRequest = func() { e.sweeper.metrics.contentsRequests.Inc() }
				r.opts.Sightings = e.sightings
				if *r.reader, err = kube.NewContents(restCfg, r.opts); err != nil {
					e.Close()
					return nil, err
				}
			}
		}
	}
	return e.wire(ns, led, fresh, time.Now)
}

// wire builds the sweeper, the server and the registry on the given sources.
func (e *Exporter) wire(ns NamespaceSource, led LedgerSource, fresh FreshLedger, now func() time.Time) (*Exporter, error) {
	cfg := e.cfg
	m := newMetrics(cfg.MetricsNamespace, func() *Snapshot { return e.sweeper.Latest() }, cfg.Interval.Seconds(), cfg.Weakened)
	e.sweeper = newSweeper(cfg, e.log, ns, led, m, now)
	e.server = newServer(cfg, e.log, e.sweeper, ns, fresh, now)
	var ghostSource GhostLedger = disabledSource{}
	if e.ghostSource != nil {
		ghostSource = e.ghostSource
	}
	gm := newGhostMetrics(cfg.MetricsNamespace, func() *GhostSnapshot { return e.ghosts.Latest() })
	getter := NamespaceGetter(ns)
	if e.ghostGetter != nil {
		getter = e.ghostGetter
	}
	e.ghosts = newGhostSweeper(cfg, e.log, ns, getter, ghostSource, gm, now)
	e.server.ghosts = e.ghosts
	e.sweeper.contents = newContentsBook()
	if e.contentsReader != nil && e.freshContentsReader != nil && cfg.Enabled && cfg.ContentsInterval > 0 {
		source := func(r ContentsReader) *contentsSource {
			return &contentsSource{reader: r, now: now, redact: cfg.Redactor(), log: e.log, prefix: cfg.Policy.Prefix}
		}
		e.contents = &contentsLoop{cfg: cfg, log: e.log, source: source(e.contentsReader), book: e.sweeper.contents,
			sweeper: e.sweeper, now: now, swept: make(chan struct{}, 1), sightings: e.sightings}
		e.sweeper.contentsLoop = e.contents
		// Not the loop's reader: a loop busy with hundreds of candidates
		// would hold the fresh checks in its limiter's queue until their
		// deadline, and every target would look recently changed.
		e.server.contents = source(e.freshContentsReader)
	}
	e.reg = prometheus.NewRegistry()
	e.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("orphans_exporter"),
	)
	if err := m.register(e.reg); err != nil {
		e.Close()
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := gm.register(e.reg); err != nil {
		e.Close()
		return nil, fmt.Errorf("register ghost metrics: %w", err)
	}
	hm := newHTTPMetrics(cfg.MetricsNamespace)
	if err := hm.register(e.reg); err != nil {
		e.Close()
		return nil, fmt.Errorf("register HTTP metrics: %w", err)
	}
	var auth func(http.Handler) http.Handler
	if e.scrapeAuth != nil {
		auth = e.scrapeAuth.Wrap
	}
	var err error
	if e.metricsHandler, err = newMetricsMux(cfg, e.server, e.reg, hm, auth, e.log); err != nil {
		e.Close()
		return nil, err
	}
	if e.apiHandler, err = newAPIMux(e.server, hm); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close releases the database pools.
func (e *Exporter) Close() {
	for _, l := range []*ledger.Ledger{e.ledger, e.freshLedger} {
		if l != nil {
			l.Close()
		}
	}
	if e.ghostLedger != nil {
		e.ghostLedger.Close()
	}
}

// MetricsHandler is the metrics listener's surface: metrics and probes.
func (e *Exporter) MetricsHandler() http.Handler { return e.metricsHandler }

// APIHandler is the API listener's surface: the documents with tokens.
func (e *Exporter) APIHandler() http.Handler { return e.apiHandler }

// Sweeper is the exporter's sweeper.
func (e *Exporter) Sweeper() *Sweeper { return e.sweeper }

// Run runs the exporter and serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	e, err := New(cfg, log)
	if err != nil {
		return err
	}
	defer e.Close()
	return e.Run(ctx)
}

// Run starts the namespace cache and the sweeper, serves HTTP on the
// configured addresses, and returns when ctx ends or serving fails.
func (e *Exporter) Run(ctx context.Context) error {
	cfg, log := e.cfg, e.log
	for _, w := range cfg.Warnings {
		log.Warn("config.warning", "warning", w)
	}
	for _, w := range cfg.Weakened {
		log.Warn("config.warning", "flag", "--"+w.Guard, "value", w.Value, "default", w.Default,
			"warning", "a safety guard is set weaker than its default")
	}
	log.Info("exporter.starting", "version", version.Info(), "enabled", cfg.Enabled, "destructive_enabled", cfg.Destructive,
		"interval", cfg.Interval, "grace", cfg.Policy.Grace, "confirmations", cfg.Policy.Confirmations, "prefix", cfg.Policy.Prefix,
		"reclaim_types", cfg.Policy.ReclaimTypes, "min_evidence_age", cfg.Policy.MinEvidenceAge,
		"live_statuses", cfg.Policy.LiveStatuses, "terminal_statuses", cfg.Policy.TerminalStatuses,
		"contents_interval", cfg.ContentsInterval, "contents_budget", cfg.ContentsBudget, "quiet_period", cfg.Policy.QuietPeriod)
	if !cfg.Enabled {
		log.Warn("sweep.disabled", "hint", "set "+EnvEnabled+"=true to sweep; serving empty metrics until then")
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	if e.namespaces != nil {
		wg.Go(func() { e.namespaces.Run(runCtx) })
		wg.Go(func() { e.sweeper.Run(runCtx) })
		wg.Go(func() { e.ghosts.Run(runCtx) })
		if e.contents != nil {
			wg.Go(func() { e.contents.Run(runCtx) })
		}
	}
	err := serveListeners(runCtx, []listener{
		{flag: "web.listen-address", flags: cfg.Web.Metrics, handler: e.metricsHandler, probes: e.metricsHandler},
		{flag: "api.listen-address", flags: cfg.Web.API, handler: e.apiHandler},
	}, cfg.Timeout+30*time.Second, log)
	if err == nil {
		log.Info("exporter.stopping")
	}
	stop()
	wg.Wait()
	return err
}

// disabledSource stands in for the cluster and the ledger when the sweep is
// off; the sweeper never calls it, and if it did it would learn nothing.
type disabledSource struct{}

var errDisabled = errors.New("sweep disabled")

func (disabledSource) Healthy() error          { return errDisabled }
func (disabledSource) Synced() bool            { return false }
func (disabledSource) List() []sweep.Namespace { return nil }
func (disabledSource) Get(context.Context, string) (sweep.Namespace, bool, error) {
	return sweep.Namespace{}, false, errDisabled
}
func (disabledSource) Lookup(context.Context, []string) (sweep.Facts, error) { return nil, errDisabled }
func (disabledSource) FreshLookup(context.Context, []string, ledger.Freshness) (sweep.Facts, error) {
	return nil, errDisabled
}

// NewLogger builds the exporter's only logger: promslog's format and level,
// with every message and attribute passed through the token redactor.
func NewLogger(c *promslog.Config, r *logsafe.Redactor) *slog.Logger {
	return slog.New(logsafe.NewHandler(promslog.New(c).Handler(), r))
}

// RouteKlog sends client-go's logs (klog, a process-wide logger) through
// log, so its lines (a failing watch naming a namespace, say) are redacted
// like the exporter's own. The main package calls it once, before anything
// logs.
func RouteKlog(log *slog.Logger) {
	klog.SetSlogLogger(log.With("component", "client-go"))
}
