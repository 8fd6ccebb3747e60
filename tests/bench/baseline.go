package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/logsafe"
)

// Names of the baseline's metrics, read by the harness.
const (
	baselineSweeps = "orphans_bench_baseline_sweep_duration_seconds"
	baselineErrors = "orphans_bench_baseline_sweep_errors_total"
)

// BaselineMain runs the naive sweep the reference platform ran, as its own
// process, so that its memory is its own: every sweep lists every namespace
// from the API server, loads every live token from the ledger, and GETs each
// tenant namespace for its age. It publishes what it finds the way the
// exporter does (GET /candidates, GET /metrics), so both are measured alike.
// It returns the process exit code.
func BaselineMain(args []string) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", "kubeconfig of the baseline's own user")
		listen     = fs.String("listen", "127.0.0.1:0", "HTTP listen address")
		interval   = fs.Duration("interval", time.Second, "time between sweep starts; a longer sweep is followed at once by the next")
		grace      = fs.Duration("grace", 0, "namespaces younger than this are not candidates")
		qps        = fs.Float64("kubernetes.qps", -1, "client-side request limit; negative for none")
		burst      = fs.Int("kubernetes.burst", 10, "client-side burst")
		timeout    = fs.Duration("kubernetes.timeout", 10*time.Second, "deadline of one API request")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dsn := os.Getenv("ORPHANS_LEDGER_DSN")
	if dsn == "" {
		log.Error("baseline.failed", "err", "ORPHANS_LEDGER_DSN is not set")
		return 2
	}
	// The exporter's client settings, so the comparison is of the sweeps.
	cfg, err := kube.RESTConfig(kube.ClientOptions{Kubeconfig: *kubeconfig, Timeout: *timeout, UserAgent: "orphans-bench-baseline",
		QPS: float32(*qps), Burst: *burst})
	if err != nil {
		log.Error("baseline.failed", "err", err)
		return 1
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Error("baseline.failed", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		log.Error("baseline.failed", "err", err)
		return 1
	}
	defer pool.Close()

	b := &baseline{cs: cs, pool: pool, grace: *grace, log: log}
	b.latest.Store(&api.Candidates{})
	reg := prometheus.NewRegistry()
	b.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: baselineSweeps, Help: "Duration of naive sweeps.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)})
	b.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: baselineErrors, Help: "Failed naive sweeps."})
	b.current = prometheus.NewGauge(prometheus.GaugeOpts{Name: "orphans_bench_baseline_candidates", Help: "Candidates of the latest naive sweep."})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		b.duration, b.errors, b.current)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /candidates", b.serveCandidates)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("baseline.failed", "err", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	t := time.NewTicker(*interval)
	defer t.Stop()
	for ctx.Err() == nil {
		b.sweepOnce(ctx)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return 0
}

type baseline struct {
	cs    kubernetes.Interface
	pool  *pgxpool.Pool
	grace time.Duration
	log   *slog.Logger

	duration prometheus.Histogram
	errors   prometheus.Counter
	current  prometheus.Gauge
	latest   atomic.Pointer[api.Candidates]
	failed   atomic.Pointer[string]
}

func (b *baseline) sweepOnce(ctx context.Context) {
	start := time.Now()
	doc, err := b.sweep(ctx, start)
	b.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		b.errors.Inc()
		msg := err.Error()
		b.failed.Store(&msg)
		b.log.Error("sweep.failed", "err", logsafe.NewRedactor(Prefix).Redact(msg))
		return
	}
	b.failed.Store(nil)
	b.latest.Store(doc)
	b.current.Set(float64(len(doc.Candidates)))
}

func (b *baseline) sweep(ctx context.Context, start time.Time) (*api.Candidates, error) {
	list, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	qstart := time.Now()
	rows, err := b.pool.Query(ctx, `SELECT DISTINCT token::text FROM resources WHERE status = ANY($1)`, liveStatuses)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	live := make(map[string]struct{})
	for rows.Next() {
		var tok string
		if err := rows.Scan(&tok); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: %w", err)
		}
		live[tok] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	ledgerTime := time.Since(qstart)

	doc := &api.Candidates{Enabled: true, Candidates: []api.Candidate{}}
	inScope := 0
	for _, item := range list.Items {
		name := item.Name
		if !strings.HasPrefix(name, Prefix) || strings.HasPrefix(name, Prefix+"pool-") || len(name) == len(Prefix) {
			continue
		}
		inScope++
		ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get namespace: %w", err)
		}
		created := ns.CreationTimestamp.Time
		token := strings.TrimPrefix(name, Prefix)
		if start.Sub(created) < b.grace {
			continue
		}
		if _, ok := live[token]; ok {
			continue
		}
		doc.Candidates = append(doc.Candidates, api.Candidate{Namespace: name, Token: token, TokenMasked: logsafe.Mask(token),
			Kind: api.KindCustomer, Reason: "not_live", NamespaceCreatedAt: created.UTC()})
	}
	sort.Slice(doc.Candidates, func(i, j int) bool { return doc.Candidates[i].Namespace < doc.Candidates[j].Namespace })
	doc.GeneratedAt = start.UTC()
	doc.Sweep = api.Sweep{OK: true, DurationSeconds: time.Since(start).Seconds(), LedgerQuerySeconds: ledgerTime.Seconds(), NamespacesInScope: inScope}
	return doc, nil
}

func (b *baseline) serveCandidates(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if msg := b.failed.Load(); msg != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.Error{Error: *msg})
		return
	}
	doc := b.latest.Load()
	if doc.GeneratedAt.IsZero() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.Error{Error: "no sweep has completed yet"})
		return
	}
	_ = json.NewEncoder(w).Encode(doc)
}
