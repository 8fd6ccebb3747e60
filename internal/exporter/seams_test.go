package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/ledger"
	"github.com/orphansweep/orphans/internal/sweep"
)

// The fail-safe rules, exercised in process through the NamespaceSource and
// LedgerSource seams; the same rules are tested against a real API server and
// PostgreSQL outage in the integration tier.

type fakeCluster struct {
	mu      sync.Mutex
	nss     []sweep.Namespace
	healthy error
	gets    atomic.Int32
	// block, when set, holds every Get until it is closed.
	block chan struct{}
}

func (f *fakeCluster) Healthy() error { f.mu.Lock(); defer f.mu.Unlock(); return f.healthy }
func (f *fakeCluster) Synced() bool   { return true }
func (f *fakeCluster) List() []sweep.Namespace {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sweep.Namespace(nil), f.nss...)
}
func (f *fakeCluster) Get(ctx context.Context, name string) (sweep.Namespace, bool, error) {
	f.gets.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return sweep.Namespace{}, false, ctx.Err()
		}
	}
	for _, n := range f.List() {
		if n.Name == name {
			return n, true, nil
		}
	}
	return sweep.Namespace{}, false, nil
}

type fakeLedger struct {
	mu      sync.Mutex
	facts   sweep.Facts
	err     error
	lookups atomic.Int32
}

func (f *fakeLedger) Lookup(_ context.Context, tokens []string) (sweep.Facts, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := sweep.Facts{}
	for _, t := range tokens {
		if rows, ok := f.facts[t]; ok {
			out[t] = rows
		}
	}
	return out, nil
}
func (f *fakeLedger) FreshLookup(ctx context.Context, tokens []string, _ ledger.Freshness) (sweep.Facts, error) {
	return f.Lookup(ctx, tokens)
}
func (f *fakeLedger) set(facts sweep.Facts, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.facts, f.err = facts, err
}

var seamNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// The seam fleet's tokens, canonical uuids as reclaimable tokens must be,
// and their namespaces: a redis orphan, an orphan without a row, a live tenant.
const (
	tokR = "fed15000-0000-4000-8000-000000000001"
	tokN = "ee000000-0000-4000-8000-000000000002"
	tokL = "11fe0000-0000-4000-8000-000000000003"
	nsR  = "instant-customer-" + tokR
	nsN  = "instant-customer-" + tokN
	nsL  = "instant-customer-" + tokL
)

func seamRow(status, typ string) sweep.Row {
	return sweep.Row{CreatedAt: seamNow.Add(-72 * time.Hour), Status: status, ResourceType: typ, ExtraNull: true}
}

// seamExporter wires an exporter on fakes, with both flags on and a fleet of
// one redis orphan, one no-row orphan and one live tenant.
func seamExporter(t *testing.T, env map[string]string, args ...string) (*Exporter, *fakeCluster, *fakeLedger) {
	t.Helper()
	o, err := parse(t, append([]string{"--sweep.confirmations=2", "--reclaim.min-evidence-age=0s", "--reclaim.quiet-period=0s"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	kv := []string{EnvLedgerDSN, "postgres://u@127.0.0.1/db"}
	for k, v := range env {
		kv = append(kv, k, v)
	}
	cfg, err := o.Validate(envOf(kv...))
	if err != nil {
		t.Fatal(err)
	}
	old := seamNow.Add(-48 * time.Hour)
	cluster := &fakeCluster{nss: []sweep.Namespace{
		{Name: nsR, UID: "uid-r", CreatedAt: old},
		{Name: nsN, UID: "uid-n", CreatedAt: old},
		{Name: nsL, UID: "uid-l", CreatedAt: old},
		{Name: ClusterNamespace, UID: "uid-cluster", CreatedAt: old},
	}}
	led := &fakeLedger{facts: sweep.Facts{tokR: {seamRow("deleted", "redis")}, tokL: {seamRow("active", "redis")}}}
	e, err := (&Exporter{cfg: cfg, log: slog.New(slog.DiscardHandler), contentsReader: &fakeContents{},
		freshContentsReader: &fakeContents{}}).wire(cluster, led, led, func() time.Time { return seamNow })
	if err != nil {
		t.Fatal(err)
	}
	return e, cluster, led
}

// fakeContents is a namespace that holds nothing and has not changed since
// long ago, unless told otherwise.
type fakeContents struct {
	mu    sync.Mutex
	byNS  map[string]sweep.Contents
	err   error
	reads atomic.Int32
}

func (f *fakeContents) Read(_ context.Context, ns string) (sweep.Contents, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return sweep.Contents{Read: true, Failed: true, Error: f.err.Error()}, f.err
	}
	if c, ok := f.byNS[ns]; ok {
		c.Read = true
		return c, nil
	}
	return sweep.Contents{Read: true, LastChangeAt: seamNow.Add(-72 * time.Hour)}, nil
}

// sweepOnce sweeps, then reads the contents of new candidates as the
// contents loop would right after, so that the next sweep decides on them.
func sweepOnce(e *Exporter) {
	e.sweeper.SweepOnce(context.Background())
	if e.contents != nil {
		e.contents.round(context.Background(), false)
	}
}

var bothOn = map[string]string{EnvEnabled: "true", EnvDestructive: "true"}

// apiRoute tells the paths served on the API listener from the metrics
// listener's.
func apiRoute(path string) bool {
	return path == "/candidates" || strings.HasPrefix(path, "/candidates/") || path == "/ghosts"
}

// serve asks the listener that serves path.
func serve(t *testing.T, e *Exporter, path string, into any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h := e.MetricsHandler()
	if apiRoute(path) {
		h = e.APIHandler()
	}
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if into != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: %d %q: %v", path, rec.Code, rec.Body.String(), err)
		}
	}
	return rec.Code
}

func gauge(t *testing.T, e *Exporter, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				ok = ok && found
			}
			if ok {
				if m.Counter != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestFailedSweepServesNothingAndResetsStreaks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(*fakeCluster, *fakeLedger)
		stage   string
	}{
		{"ledger error", func(_ *fakeCluster, l *fakeLedger) { l.set(nil, errors.New("connection refused")) }, StageLedger},
		{"namespace watch broken", func(c *fakeCluster, _ *fakeLedger) {
			c.mu.Lock()
			c.healthy = errors.New("watch failing")
			c.mu.Unlock()
		}, StageKubernetes},
		// an empty ledger would make every tenant an orphan
		{"implausible", func(_ *fakeCluster, l *fakeLedger) { l.set(sweep.Facts{}, nil) }, StageGuard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, cluster, led := seamExporter(t, bothOn, "--sweep.max-candidate-fraction=0.7", "--sweep.guard-min-namespaces=3")
			sweepOnce(e)
			sweepOnce(e)
			var doc api.Candidates
			if code := serve(t, e, "/candidates", &doc); code != http.StatusOK || len(doc.Candidates) != 2 || !doc.Candidates[1].Reclaimable {
				t.Fatalf("before the failure: %d %+v", code, doc)
			}
			goodFacts := led.facts
			tc.breakIt(cluster, led)
			sweepOnce(e)

			var body api.Error
			if code := serve(t, e, "/candidates", &body); code != http.StatusServiceUnavailable || body.Error == "" {
				t.Fatalf("after the failure: %d %+v", code, body)
			}
			if up := gauge(t, e, "instant_orphan_db_sweep_up"); up != 0 {
				t.Fatalf("up = %v", up)
			}
			for _, k := range api.Kinds {
				if v := gauge(t, e, "instant_orphan_db_sweep_candidates_current", "kind", k); v != 0 {
					t.Fatalf("candidates_current{%s} = %v after a failed sweep", k, v)
				}
			}
			if v := gauge(t, e, "instant_orphan_db_sweep_errors_total", "stage", tc.stage); v != 1 {
				t.Fatalf("errors_total{stage=%s} = %v", tc.stage, v)
			}

			// Recovery: the streak starts again, so nothing is reclaimable until re-earned.
			cluster.mu.Lock()
			cluster.healthy = nil
			cluster.mu.Unlock()
			led.set(goodFacts, nil)
			sweepOnce(e)
			serve(t, e, "/candidates", &doc)
			r := doc.Candidates[1]
			if r.Namespace != nsR || r.ConsecutiveSweeps != 1 || r.Reclaimable || r.NotReclaimableReason != api.NotReclaimableUnconfirmed {
				t.Fatalf("after recovery: %+v", r)
			}
			if v := gauge(t, e, "instant_orphan_db_sweep_candidates_total", "kind", api.KindRedis); v != 1 {
				t.Fatalf("a candidate was counted again after the outage: %v", v)
			}
		})
	}
}

func TestFreshCheckDecidesScopeBeforeAnyRequest(t *testing.T) {
	e, cluster, led := seamExporter(t, bothOn)
	for path, why := range map[string]string{
		"/candidates/kube-system":             api.WhyOutOfScope,
		"/candidates/instant-customer-pool-1": api.WhyExcluded,
	} {
		var nc api.NotCandidate
		if code := serve(t, e, path, &nc); code != http.StatusNotFound || nc.Why != why {
			t.Errorf("GET %s = %d %+v, want 404 %s", path, code, nc, why)
		}
	}
	if n, m := cluster.gets.Load(), led.lookups.Load(); n != 0 || m != 0 {
		t.Fatalf("out-of-scope checks made %d API and %d ledger requests", n, m)
	}
}

func TestFreshCheckEvidenceChanged(t *testing.T) {
	e, _, led := seamExporter(t, bothOn)
	sweepOnce(e)
	sweepOnce(e)
	var c api.Candidate
	if code := serve(t, e, "/candidates/"+nsR, &c); code != http.StatusOK || !c.Reclaimable || c.NamespaceUID != "uid-r" || len(c.EvidenceDigest) != 64 {
		t.Fatalf("confirmed candidate: %d %+v", code, c)
	}
	confirmed := c.EvidenceDigest
	// A row appears between the sweeps and the check.
	led.set(sweep.Facts{tokR: {seamRow("deleted", "redis"), seamRow("expired", "redis")}, tokL: {seamRow("active", "redis")}}, nil)
	if code := serve(t, e, "/candidates/"+nsR, &c); code != http.StatusOK || c.Reclaimable ||
		c.NotReclaimableReason != api.NotReclaimableEvidenceChanged || c.EvidenceDigest == confirmed {
		t.Fatalf("changed evidence: %d %+v", code, c)
	}
	var nc api.NotCandidate
	if code := serve(t, e, "/candidates/"+nsL, &nc); code != http.StatusNotFound || nc.Why != api.WhyLive {
		t.Fatalf("live tenant: %d %+v", code, nc)
	}
}

func TestFreshChecksAreLimited(t *testing.T) {
	e, cluster, _ := seamExporter(t, bothOn)
	sweepOnce(e)
	cluster.gets.Store(0) // the sweep's read of the cluster's UID
	cluster.block = make(chan struct{})
	var wg sync.WaitGroup
	for range FreshChecks {
		wg.Go(func() { serve(t, e, "/candidates/"+nsR, nil) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for cluster.gets.Load() < FreshChecks && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	e.APIHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/candidates/"+nsR, nil))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a fifth concurrent check: %d %q", rec.Code, rec.Header())
	}
	close(cluster.block)
	wg.Wait()
	if code := serve(t, e, "/candidates/"+nsR, nil); code != http.StatusOK {
		t.Fatalf("after the others finished: %d", code)
	}
}

// /candidates names the cluster and publishes every guard the verdicts rest
// on, as configured.
func TestCandidatesPublishClusterAndPolicy(t *testing.T) {
	e, cluster, _ := seamExporter(t, bothOn, "--ledger.terminated-at-column=terminated_at", "--contents.ignore-managers=argocd,flux",
		"--ledger.max-replica-lag=20s", "--sweep.guard-min-namespaces=50", "--namespace.exclude-prefix=instant-customer-pool-,instant-customer-warm-")
	var doc api.Candidates
	if code := serve(t, e, "/candidates", &doc); code != http.StatusServiceUnavailable {
		t.Fatalf("before the first sweep: %d", code)
	}
	sweepOnce(e)
	sweepOnce(e)
	if code := serve(t, e, "/candidates", &doc); code != http.StatusOK || doc.ClusterUID != "uid-cluster" {
		t.Fatalf("/candidates: %d, cluster_uid %q", code, doc.ClusterUID)
	}
	if n := cluster.gets.Load(); n != 1 {
		t.Errorf("two sweeps read the cluster's UID %d times, want once", n)
	}
	want := api.Policy{
		Prefix: "instant-customer-", ExcludePrefix: []string{"instant-customer-pool-", "instant-customer-warm-"},
		GraceSeconds: 3600, Confirmations: 2, ReclaimTypes: []string{"redis"},
		MinEvidenceAgeSeconds: 0, QuietPeriodSeconds: 0, MaxCandidateFraction: 0.5, GuardMinNamespaces: 50,
		LiveStatuses: []string{"pending", "active", "paused", "suspended"}, TerminalStatuses: []string{"deleted", "expired", "failed", "reaped"},
		TerminatedAtColumn: "terminated_at", MaxReplicaLagSeconds: 20, IgnoreManagers: []string{"argocd", "flux"},
		Weakened: doc.Policy.Weakened,
	}
	if !reflect.DeepEqual(doc.Policy, want) {
		t.Fatalf("policy\n got %+v\nwant %+v", doc.Policy, want)
	}
	// Every guard is in the JSON, empty lists included.
	raw := map[string]any{}
	rec := httptest.NewRecorder()
	e.APIHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/candidates", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	policy, _ := raw["policy"].(map[string]any)
	for _, k := range []string{"prefix", "exclude_prefix", "grace_seconds", "confirmations", "reclaim_types", "min_evidence_age_seconds",
		"quiet_period_seconds", "max_candidate_fraction", "guard_min_namespaces", "live_statuses", "terminal_statuses",
		"terminated_at_column", "max_replica_lag_seconds", "ignore_managers", "weakened"} {
		if v, ok := policy[k]; !ok || v == nil {
			t.Errorf("policy.%s missing or null in %s", k, rec.Body.String())
		}
	}
}

func TestDisabledTouchesNoSource(t *testing.T) {
	e, cluster, led := seamExporter(t, map[string]string{EnvDestructive: "true"})
	sweepOnce(e)
	var doc api.Candidates
	if code := serve(t, e, "/candidates", &doc); code != http.StatusOK || doc.Enabled || doc.DestructiveEnabled || len(doc.Candidates) != 0 {
		t.Fatalf("disabled: %d %+v", code, doc)
	}
	serve(t, e, "/candidates/"+nsR, nil)
	if cluster.gets.Load() != 0 || led.lookups.Load() != 0 {
		t.Fatal("the disabled exporter asked the cluster or the ledger")
	}
}

// The contents loop reads at most --contents.budget namespaces per
// --contents.interval: never-read candidates first, then the longest unread;
// an unread candidate is not reclaimable, and the next window goes on where
// the last one stopped.
func TestContentsBudget(t *testing.T) {
	e, cluster, led := seamExporter(t, map[string]string{EnvEnabled: "true", EnvDestructive: "true"},
		"--contents.budget=2", "--contents.interval=5m")
	old := seamNow.Add(-48 * time.Hour)
	for _, tok := range []string{"0000000a-0000-4000-8000-00000000000a", "0000000b-0000-4000-8000-00000000000b", "0000000c-0000-4000-8000-00000000000c"} {
		cluster.nss = append(cluster.nss, sweep.Namespace{Name: "instant-customer-" + tok, UID: "uid-" + tok, CreatedAt: old})
		led.facts[tok] = []sweep.Row{seamRow("deleted", "redis")}
	}
	reader := e.contentsReader.(*fakeContents)
	clock := seamNow
	e.contents.now = func() time.Time { return clock }
	e.contents.source.now = e.contents.now
	unread := func() (n int) {
		for _, c := range e.sweeper.Latest().Candidates {
			if _, ok := e.contents.book.get(c.Namespace, c.NamespaceUID); !ok {
				n++
			}
		}
		return n
	}

	e.sweeper.SweepOnce(context.Background())
	if n := len(e.sweeper.Latest().Candidates); n != 5 {
		t.Fatalf("%d candidates, want 5", n)
	}
	e.contents.round(context.Background(), false)
	if got := reader.reads.Load(); got != 2 || unread() != 3 {
		t.Fatalf("first round: %d reads, %d unread; want 2 and 3", got, unread())
	}
	// Within the same interval the budget is spent: nothing more is read,
	// and what is unread is not reclaimable.
	clock = clock.Add(time.Minute)
	e.contents.round(context.Background(), false)
	if got := reader.reads.Load(); got != 2 {
		t.Fatalf("a round past the budget read %d namespaces", got-2)
	}
	e.sweeper.SweepOnce(context.Background()) // the second in a row: confirmed
	reclaimable := 0
	for _, c := range e.sweeper.Latest().Candidates {
		_, read := e.contents.book.get(c.Namespace, c.NamespaceUID)
		if !read && (c.Reclaimable || c.ResourceType == "redis" && c.NotReclaimableReason != api.NotReclaimableRecentChange) {
			t.Fatalf("%s unread: reclaimable %v (%s)", c.Namespace, c.Reclaimable, c.NotReclaimableReason)
		}
		if c.Reclaimable {
			reclaimable++
		}
	}
	if reclaimable != 2 {
		t.Fatalf("%d reclaimable, want the 2 redis candidates read", reclaimable)
	}
	// The next interval reads the unread first.
	clock = clock.Add(5 * time.Minute)
	e.contents.round(context.Background(), true)
	if got := reader.reads.Load(); got != 4 || unread() != 1 {
		t.Fatalf("second interval: %d reads, %d unread; want 4 and 1", got, unread())
	}
	clock = clock.Add(5 * time.Minute)
	e.contents.round(context.Background(), true)
	if got := reader.reads.Load(); got != 6 || unread() != 0 {
		t.Fatalf("third interval: %d reads, %d unread; want 6 and 0", got, unread())
	}
}
