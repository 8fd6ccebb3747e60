package exporter

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orphansweep/orphans/internal/api"
)

const subsystem = "orphan_db_sweep"

// Error stages, the only values of the `stage` label.
const (
	StageKubernetes = "kubernetes"
	StageLedger     = "ledger"
	StageGuard      = "guard"
)

var stages = []string{StageKubernetes, StageLedger, StageGuard}

// metrics holds the cumulative series; everything read from the latest
// snapshot is emitted by snapshotCollector at scrape time.
type metrics struct {
	candidatesTotal   *prometheus.CounterVec
	resurrectedTotal  *prometheus.CounterVec
	errorsTotal       *prometheus.CounterVec
	duration          prometheus.Histogram
	ledgerDuration    prometheus.Histogram
	contentsRequests  prometheus.Counter
	guardWeakened     *prometheus.GaugeVec
	registered        []prometheus.Collector
	snapshotCollector *snapshotCollector
}

func newMetrics(ns string, latest func() *Snapshot, interval float64, weakened []Weakened) *metrics {
	m := &metrics{
		candidatesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: subsystem, Name: "candidates_total",
			Help: "Distinct orphan candidates detected, counted once when first seen.",
		}, []string{"kind"}),
		resurrectedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: subsystem, Name: "candidates_resurrected_total",
			Help: "Candidates whose token turned live again (a detection that would have been a false positive).",
		}, []string{"kind"}),
		errorsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: subsystem, Name: "errors_total",
			Help: "Failed sweeps by stage (kubernetes, ledger, guard). A failed sweep reports no candidates.",
		}, []string{"stage"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: subsystem, Name: "duration_seconds",
			Help:    "Duration of sweeps, failed ones included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		ledgerDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: subsystem, Name: "ledger_query_duration_seconds",
			Help:    "Duration of the ledger query of each sweep.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	m.contentsRequests = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: subsystem, Name: "contents_requests_total",
		Help: "Kubernetes API requests made to read the contents of candidates (fresh checks included).",
	})
	// Both kinds and every stage exist from start-up, so rate() and absent()
	// behave from the first scrape.
	for _, k := range api.Kinds {
		m.candidatesTotal.WithLabelValues(k)
		m.resurrectedTotal.WithLabelValues(k)
	}
	for _, s := range stages {
		m.errorsTotal.WithLabelValues(s)
	}
	// Every guard exists from start-up: 1 for those set weaker than their
	// defaults, which the OrphanSafetyGuardWeakened alert watches.
	m.guardWeakened = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: subsystem, Name: "guard_weakened",
		Help: "1 when the safety guard (a flag, named without dashes) is set weaker than its default; 0 otherwise.",
	}, []string{"guard"})
	for _, g := range GuardNames() {
		m.guardWeakened.WithLabelValues(g)
	}
	for _, w := range weakened {
		m.guardWeakened.WithLabelValues(w.Guard).Set(1)
	}
	m.snapshotCollector = newSnapshotCollector(ns, latest, interval)
	m.registered = []prometheus.Collector{m.candidatesTotal, m.resurrectedTotal, m.errorsTotal, m.duration, m.ledgerDuration,
		m.contentsRequests, m.guardWeakened, m.snapshotCollector}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range m.registered {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// snapshotCollector reads the latest snapshot on every scrape. Series come
// from an immutable value, so a scrape never sees half a sweep.
type snapshotCollector struct {
	latest   func() *Snapshot
	interval float64

	current, reclaimable, oldest, byReason         *prometheus.Desc
	up, lastSuccess, inScope, enabled, destructive *prometheus.Desc
	intervalDesc                                   *prometheus.Desc
	storage, pods                                  *prometheus.Desc
}

func newSnapshotCollector(ns string, latest func() *Snapshot, interval float64) *snapshotCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, subsystem, name), help, labels, nil)
	}
	return &snapshotCollector{
		latest:       latest,
		interval:     interval,
		current:      d("candidates_current", "Orphan candidates in the latest sweep; 0 when it failed or the sweep is disabled.", "kind"),
		reclaimable:  d("candidates_reclaimable", "Candidates of the latest sweep that pass every reclaim rule.", "kind"),
		byReason:     d("candidates_by_reason", "Candidates in the latest sweep by why their token is not live (no_row, terminal, unknown_status); 0 when it failed or the sweep is disabled.", "reason"),
		oldest:       d("oldest_candidate_age_seconds", "Age of the oldest candidate namespace (since its creation) in the latest sweep; 0 when there is none.", "kind"),
		up:           d("up", "1 when the latest sweep succeeded, 0 when it failed, none has completed or the sweep is disabled."),
		lastSuccess:  d("last_success_timestamp_seconds", "Unix time of the latest successful sweep; 0 before the first."),
		inScope:      d("namespaces_in_scope", "Tenant namespaces in scope in the latest sweep, within grace or not; 0 when it failed."),
		enabled:      d("enabled", "1 when ORPHAN_DB_SWEEP_ENABLED is exactly \"true\"."),
		destructive:  d("destructive_enabled", "1 when both safety flags are exactly \"true\" and candidates may be reclaimable."),
		intervalDesc: d("interval_seconds", "Configured time between sweeps."),
		storage:      d("candidates_storage_requested_bytes", "Storage requested by the PVCs of the latest sweep's candidates, as last read; 0 when it failed or contents are off.", "kind"),
		pods:         d("candidates_pods", "Pods in the latest sweep's candidates, as last read; 0 when it failed or contents are off.", "kind"),
	}
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.current, c.reclaimable, c.oldest, c.byReason, c.up, c.lastSuccess, c.inScope, c.enabled, c.destructive, c.intervalDesc, c.storage, c.pods} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.latest()
	current := map[string]float64{}
	reclaimable := map[string]float64{}
	oldest := map[string]float64{}
	byReason := map[string]float64{}
	storage := map[string]float64{}
	pods := map[string]float64{}
	if s.OK {
		for _, cand := range s.Candidates {
			if cand.Contents != nil {
				storage[cand.Kind] += float64(cand.Contents.StorageRequestedBytes)
				pods[cand.Kind] += float64(cand.Contents.Pods)
			}
			current[cand.Kind]++
			byReason[cand.Reason]++
			if cand.Reclaimable {
				reclaimable[cand.Kind]++
			}
			if age := s.GeneratedAt.Sub(cand.NamespaceCreatedAt).Seconds(); age > oldest[cand.Kind] {
				oldest[cand.Kind] = age
			}
		}
	}
	for _, k := range api.Kinds {
		ch <- prometheus.MustNewConstMetric(c.current, prometheus.GaugeValue, current[k], k)
		ch <- prometheus.MustNewConstMetric(c.reclaimable, prometheus.GaugeValue, reclaimable[k], k)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest[k], k)
		ch <- prometheus.MustNewConstMetric(c.storage, prometheus.GaugeValue, storage[k], k)
		ch <- prometheus.MustNewConstMetric(c.pods, prometheus.GaugeValue, pods[k], k)
	}
	for _, r := range api.Reasons {
		ch <- prometheus.MustNewConstMetric(c.byReason, prometheus.GaugeValue, byReason[r], r)
	}
	var last float64
	if !s.LastSuccess.IsZero() {
		last = float64(s.LastSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolf(s.OK))
	ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(c.inScope, prometheus.GaugeValue, float64(s.InScope))
	ch <- prometheus.MustNewConstMetric(c.enabled, prometheus.GaugeValue, boolf(s.Enabled))
	ch <- prometheus.MustNewConstMetric(c.destructive, prometheus.GaugeValue, boolf(s.Destructive))
	ch <- prometheus.MustNewConstMetric(c.intervalDesc, prometheus.GaugeValue, c.interval)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// httpMetrics count the requests of both listeners by route, so that the
// fresh checks' 429s and 503s, and refused scrapes, are visible.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(ns string) *httpMetrics {
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: subsystem, Name: "http_requests_total",
			Help: "HTTP requests answered by the exporter's listeners, by route and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: subsystem, Name: "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"handler"}),
	}
}

func (m *httpMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// instrument counts and times h under route. Each route's series exist from
// start-up, so rate() works from the first scrape.
func (m *httpMetrics) instrument(route string, h http.Handler) http.Handler {
	label := prometheus.Labels{"handler": route}
	m.requests.WithLabelValues(route, strconv.Itoa(http.StatusOK))
	m.duration.WithLabelValues(route)
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(label),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(label), h))
}
