package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/sweep"
)

// Ghost sweeps in process, through the same seams as the orphan sweep; the
// integration tier runs them against PostgreSQL and a real API server.

type fakeGhostLedger struct {
	mu      sync.Mutex
	rows    []sweep.LiveRow
	err     error
	scans   atomic.Int32
	visited atomic.Int32
}

// Scan compares tokens exactly, as a text token column would.
func (f *fakeGhostLedger) Scan(_ context.Context, cutoff time.Time, known []string, visit func(sweep.LiveRow) error) (int, error) {
	f.scans.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	has := map[string]bool{}
	for _, k := range known {
		has[k] = true
	}
	tokens := map[string]bool{}
	for _, r := range f.rows {
		if r.CreatedAt.After(cutoff) {
			continue
		}
		tokens[r.Token] = true
		if !has[r.Token] {
			f.visited.Add(1)
			if err := visit(r); err != nil {
				return 0, err
			}
		}
	}
	return len(tokens), nil
}

func (f *fakeGhostLedger) set(rows []sweep.LiveRow, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows, f.err = rows, err
}

func liveRow(token, typ string, age time.Duration) sweep.LiveRow {
	return sweep.LiveRow{Token: token, Status: "active", ResourceType: typ, CreatedAt: seamNow.Add(-age)}
}

// ghostExporter is seamExporter with a ghost ledger: tokL has its namespace,
// "g" is a redis ghost, "y" a live row within grace.
func ghostExporter(t *testing.T, env map[string]string, args ...string) (*Exporter, *fakeCluster, *fakeGhostLedger) {
	t.Helper()
	e, cluster, _ := seamExporter(t, env, args...)
	gl := &fakeGhostLedger{rows: []sweep.LiveRow{
		liveRow(tokL, "redis", 72*time.Hour), liveRow("g", "redis", 2*time.Hour), liveRow("y", "redis", time.Minute),
	}}
	e.ghosts.ledger = gl
	return e, cluster, gl
}

// liveRows are n live redis rows past grace, their tokens format with 0…n-1.
func liveRows(format string, n int) []sweep.LiveRow {
	rows := make([]sweep.LiveRow, n)
	for i := range rows {
		rows[i] = liveRow(fmt.Sprintf(format, i), "redis", 2*time.Hour)
	}
	return rows
}

func ghostGauges(t *testing.T, e *Exporter) (current, oldest map[string]float64, up float64) {
	t.Helper()
	current, oldest = map[string]float64{}, map[string]float64{}
	for _, k := range api.Kinds {
		current[k] = gauge(t, e, "instant_orphan_db_sweep_ghosts_current", "kind", k)
		oldest[k] = gauge(t, e, "instant_orphan_db_sweep_oldest_ghost_age_seconds", "kind", k)
	}
	return current, oldest, gauge(t, e, "instant_orphan_db_sweep_ghosts_up")
}

func TestGhostSweep(t *testing.T) {
	e, _, gl := ghostExporter(t, bothOn)
	code := serve(t, e, "/ghosts", nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/ghosts before the first ghost sweep: %d", code)
	}
	e.ghosts.SweepOnce(context.Background())
	e.ghosts.SweepOnce(context.Background())
	var doc api.Ghosts
	if code := serve(t, e, "/ghosts", &doc); code != http.StatusOK || !doc.Enabled || !doc.Sweep.OK || len(doc.Ghosts) != 1 {
		t.Fatalf("/ghosts: %d %+v", code, doc)
	}
	g := doc.Ghosts[0]
	if g.Token != "g" || g.Namespace != "instant-customer-g" || g.TokenMasked == g.Token || g.ResourceType != "redis" || g.Kind != api.KindRedis ||
		g.Status != "active" || !g.RowCreatedAt.Equal(seamNow.Add(-2*time.Hour)) || !g.FirstSeenAt.Equal(seamNow) || g.ConsecutiveSweeps != 2 {
		t.Fatalf("ghost: %+v", g)
	}
	current, oldest, up := ghostGauges(t, e)
	if current[api.KindRedis] != 1 || current[api.KindCustomer] != 0 || oldest[api.KindRedis] != 7200 || up != 1 {
		t.Fatalf("gauges: current %v oldest %v up %v", current, oldest, up)
	}
	// Nothing ever acts on a ghost: the only request a ghost sweep makes is the scan.
	if n := gl.scans.Load(); n != 2 {
		t.Fatalf("%d scans for 2 ghost sweeps", n)
	}
}

func TestGhostSweepFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(*fakeCluster, *fakeGhostLedger)
		stage   string
	}{
		{"ledger error", func(_ *fakeCluster, l *fakeGhostLedger) { l.set(nil, errors.New("connection refused")) }, StageLedger},
		{"namespace watch broken", func(c *fakeCluster, _ *fakeGhostLedger) {
			c.mu.Lock()
			c.healthy = errors.New("watch failing")
			c.mu.Unlock()
		}, StageKubernetes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, cluster, gl := ghostExporter(t, bothOn)
			e.sweeper.SweepOnce(context.Background())
			e.ghosts.SweepOnce(context.Background())
			good := gl.rows
			tc.breakIt(cluster, gl)
			e.ghosts.SweepOnce(context.Background())

			var body api.Error
			if code := serve(t, e, "/ghosts", &body); code != http.StatusServiceUnavailable || !strings.Contains(body.Error, tc.stage) {
				t.Fatalf("/ghosts after a failed ghost sweep: %d %+v", code, body)
			}
			current, oldest, up := ghostGauges(t, e)
			if current[api.KindRedis] != 0 || oldest[api.KindRedis] != 0 || up != 0 {
				t.Fatalf("gauges after a failed ghost sweep: current %v oldest %v up %v", current, oldest, up)
			}
			// The orphan sweep's results stand.
			var doc api.Candidates
			if code := serve(t, e, "/candidates", &doc); code != http.StatusOK || len(doc.Candidates) != 2 {
				t.Fatalf("/candidates after a failed ghost sweep: %d %+v", code, doc)
			}
			if v := gauge(t, e, "instant_orphan_db_sweep_up"); v != 1 {
				t.Fatalf("sweep up = %v after a failed ghost sweep", v)
			}
			if v := gauge(t, e, "instant_orphan_db_sweep_errors_total", "stage", tc.stage); v != 0 {
				t.Fatalf("a ghost failure counted as a sweep error: %v", v)
			}

			// Recovery restarts the streak and keeps the first sighting.
			cluster.mu.Lock()
			cluster.healthy = nil
			cluster.mu.Unlock()
			gl.set(good, nil)
			e.ghosts.SweepOnce(context.Background())
			var ghosts api.Ghosts
			if code := serve(t, e, "/ghosts", &ghosts); code != http.StatusOK || len(ghosts.Ghosts) != 1 ||
				ghosts.Ghosts[0].ConsecutiveSweeps != 1 || !ghosts.Ghosts[0].FirstSeenAt.Equal(seamNow) {
				t.Fatalf("after recovery: %d %+v", code, ghosts)
			}
		})
	}
}

func TestGhostGuard(t *testing.T) {
	e, _, gl := ghostExporter(t, bothOn, "--sweep.guard-min-namespaces=3")
	// Three live tokens past grace, two without a namespace: above half.
	gl.set([]sweep.LiveRow{liveRow(tokL, "redis", 2*time.Hour), liveRow("a", "redis", 2*time.Hour), liveRow("b", "postgres", 2*time.Hour)}, nil)
	e.ghosts.SweepOnce(context.Background())
	var body api.Error
	if code := serve(t, e, "/ghosts", &body); code != http.StatusServiceUnavailable || !strings.Contains(body.Error, StageGuard) {
		t.Fatalf("/ghosts: %d %+v", code, body)
	}
	if _, _, up := ghostGauges(t, e); up != 0 {
		t.Fatalf("ghosts_up = %v", up)
	}
}

// selectedCluster caches only labelled namespaces; others exist on the API server.
type selectedCluster struct {
	*fakeCluster
	unselected []sweep.Namespace
}

func (c *selectedCluster) Get(ctx context.Context, name string) (sweep.Namespace, bool, error) {
	for _, n := range c.unselected {
		if n.Name == name {
			c.gets.Add(1)
			return n, true, nil
		}
	}
	return c.fakeCluster.Get(ctx, name)
}

func TestGhostsConfirmedByGetWithSelector(t *testing.T) {
	e, cluster, gl := ghostExporter(t, bothOn, "--namespace.selector=tier=tenant")
	sc := &selectedCluster{fakeCluster: cluster, unselected: []sweep.Namespace{{Name: "instant-customer-u", CreatedAt: seamNow}}}
	e.ghosts.ns, e.ghosts.getter = sc, sc
	gl.set([]sweep.LiveRow{
		liveRow("g", "redis", 2*time.Hour), liveRow("u", "redis", 2*time.Hour),
		liveRow("UPPER", "redis", 2*time.Hour), // no namespace can have this name: no request
	}, nil)
	e.ghosts.SweepOnce(context.Background())
	var doc api.Ghosts
	if code := serve(t, e, "/ghosts", &doc); code != http.StatusOK || len(doc.Ghosts) != 2 ||
		doc.Ghosts[0].Token != "UPPER" || doc.Ghosts[1].Token != "g" {
		t.Fatalf("/ghosts: %d %+v", code, doc)
	}
	if n := cluster.gets.Load(); n != 2 {
		t.Fatalf("%d GETs, want one for g and one for u", n)
	}

	cluster.block = make(chan struct{}) // a hung API server
	e.ghosts.cfg.Ghosts.Timeout = 50 * time.Millisecond
	e.ghosts.SweepOnce(context.Background())
	if code := serve(t, e, "/ghosts", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("/ghosts with the confirming GET failing: %d", code)
	}
}

func TestGhostsDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		why  string
	}{
		{"master flag off", map[string]string{EnvDestructive: "true"}, nil, EnvEnabled},
		{"interval 0", bothOn, []string{"--ghosts.interval=0"}, "--ghosts.interval=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, gl := ghostExporter(t, tc.env, tc.args...)
			e.ghosts.SweepOnce(context.Background())
			var doc api.Ghosts
			if code := serve(t, e, "/ghosts", &doc); code != http.StatusOK || doc.Enabled || doc.Sweep.OK ||
				!strings.Contains(doc.Sweep.Error, tc.why) || doc.Ghosts == nil || len(doc.Ghosts) != 0 {
				t.Fatalf("/ghosts: %d %+v", code, doc)
			}
			if current, _, up := ghostGauges(t, e); current[api.KindRedis] != 0 || up != 0 {
				t.Fatalf("gauges: %v %v", current, up)
			}
			if gl.scans.Load() != 0 {
				t.Fatal("a disabled ghost sweep read the ledger")
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			e.ghosts.Run(ctx) // returns at once
		})
	}
}

const goldenGhostsText = `
# HELP instant_orphan_db_sweep_ghosts_current Tokens with a live ledger row past --ghosts.grace and no namespace, in the latest ghost sweep; 0 when it failed or ghosts are off.
# TYPE instant_orphan_db_sweep_ghosts_current gauge
instant_orphan_db_sweep_ghosts_current{kind="customer_namespace"} 1
instant_orphan_db_sweep_ghosts_current{kind="redis_namespace"} 2
# HELP instant_orphan_db_sweep_ghosts_up 1 when the latest ghost sweep succeeded, 0 when it failed, none has completed or ghosts are off.
# TYPE instant_orphan_db_sweep_ghosts_up gauge
instant_orphan_db_sweep_ghosts_up 1
# HELP instant_orphan_db_sweep_oldest_ghost_age_seconds Age of the oldest ghost's live row (since its created column) in the latest ghost sweep; 0 when there is none.
# TYPE instant_orphan_db_sweep_oldest_ghost_age_seconds gauge
instant_orphan_db_sweep_oldest_ghost_age_seconds{kind="customer_namespace"} 5400
instant_orphan_db_sweep_oldest_ghost_age_seconds{kind="redis_namespace"} 172800
`

// A failed ghost sweep reports every ghost series as 0.
var failedGhostsText = regexp.MustCompile(`(?m) [0-9]+$`).ReplaceAllString(goldenGhostsText, " 0")

func goldenGhostSnapshot() *GhostSnapshot {
	gen := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	return &GhostSnapshot{GeneratedAt: gen, Completed: true, Enabled: true, OK: true, Ghosts: []sweep.Ghost{
		{Namespace: "instant-customer-a", Kind: api.KindRedis, RowCreatedAt: gen.Add(-48 * time.Hour)},
		{Namespace: "instant-customer-b", Kind: api.KindRedis, RowCreatedAt: gen.Add(-2 * time.Hour)},
		{Namespace: "instant-customer-c", Kind: api.KindCustomer, RowCreatedAt: gen.Add(-90 * time.Minute)},
	}}
}

func TestGhostMetricsGolden(t *testing.T) {
	snap := goldenGhostSnapshot()
	m := newGhostMetrics("instant", func() *GhostSnapshot { return snap })
	reg := prometheus.NewPedanticRegistry()
	if err := m.register(reg); err != nil {
		t.Fatal(err)
	}
	names := []string{"instant_orphan_db_sweep_ghosts_current", "instant_orphan_db_sweep_ghosts_up", "instant_orphan_db_sweep_oldest_ghost_age_seconds"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(goldenGhostsText), names...); err != nil {
		t.Fatal(err)
	}
	snap = &GhostSnapshot{GeneratedAt: snap.GeneratedAt, Completed: true, Enabled: true, Err: "ledger: down", Ghosts: snap.Ghosts}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(failedGhostsText), names...); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "instant_orphan_db_sweep_ghosts_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("ghosts_duration_seconds: %d series, %v", n, err)
	}

	for _, c := range []prometheus.Collector{m.duration, m.collector} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}

	acme := prometheus.NewPedanticRegistry()
	if err := newGhostMetrics("acme", goldenGhostSnapshot).register(acme); err != nil {
		t.Fatal(err)
	}
	mfs, err := acme.Gather()
	if err != nil || len(mfs) != 4 {
		t.Fatalf("%d families, %v", len(mfs), err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "acme_orphan_db_sweep_") {
			t.Errorf("metric %s ignores --metrics.namespace", mf.GetName())
		}
	}
}

func TestValidateGhosts(t *testing.T) {
	o, _ := parse(t)
	c, err := o.Validate(envOf(EnvEnabled, "true", EnvLedgerDSN, "postgres://u@127.0.0.1/db"))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Ghosts
	if !g.Enabled || g.Interval != 10*time.Minute || g.Timeout != time.Minute || g.Policy.Grace != time.Hour ||
		len(g.Ledger.Types) != 0 || g.Ledger.FilterColumn != "" || g.Ledger.QueryTimeout != time.Minute ||
		g.Policy.Prefix != "instant-customer-" || g.Policy.MaxFraction != 0.5 || g.Policy.GuardMin != 20 ||
		strings.Join(g.Ledger.LiveStatuses, ",") != "pending,active,paused,suspended" || g.Ledger.DSN != c.Ledger.DSN ||
		g.ConfirmQPS != 10 || g.ConfirmBurst != 10 {
		t.Fatalf("defaults: %+v", g)
	}
	o, _ = parse(t, "--ghosts.interval=30s", "--ghosts.grace=15s", "--ghosts.types=redis, postgres", "--ghosts.filter-column=cluster", "--ghosts.filter-value=eu-1",
		"--ghosts.confirm-qps=0.5")
	if c, err = o.Validate(envOf()); err != nil {
		t.Fatal(err)
	}
	if g := c.Ghosts; g.Enabled || g.Timeout != 30*time.Second || g.Policy.Grace != 15*time.Second || g.ConfirmQPS != 0.5 || g.ConfirmBurst != 1 ||
		strings.Join(g.Ledger.Types, ",") != "redis,postgres" || g.Ledger.FilterValue != "eu-1" || !strings.Contains(g.Off, EnvEnabled) {
		t.Fatalf("set: %+v", g)
	}

	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--ghosts.interval=-1s"}, "ghosts.interval"},
		{[]string{"--ghosts.interval=10ms"}, "ghosts.interval"},
		{[]string{"--ghosts.interval=1m", "--ghosts.timeout=2m"}, "ghosts.timeout"},
		{[]string{"--ghosts.timeout=0s"}, "ghosts.timeout"},
		{[]string{"--ghosts.grace=-1h"}, "ghosts.grace"},
		{[]string{"--ghosts.filter-column=cluster"}, "ghosts.filter-value"},
		{[]string{"--ghosts.filter-value=eu-1"}, "ghosts.filter-column"},
		{[]string{"--ghosts.filter-column= ", "--ghosts.filter-value=eu-1"}, "ghosts.filter-column"},
		{[]string{"--web.telemetry-path=/ghosts"}, "web.telemetry-path"},
		{[]string{"--ghosts.confirm-qps=0"}, "ghosts.confirm-qps"},
	} {
		o, err := parse(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Validate(envOf())
		if err == nil || !strings.HasPrefix(err.Error(), "invalid --"+tc.flag+":") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line naming --%s", tc.args, err, tc.flag)
		}
	}
}

// A ghost sweep logs each new ghost up to a bound, then one line with the
// count of the rest: a ledger read with the wrong filter can make every
// live token a ghost at once.
func TestGhostLogsAreBounded(t *testing.T) {
	e, _, gl := ghostExporter(t, bothOn, "--sweep.max-candidate-fraction=1")
	gl.set(liveRows("ghost-%02d", 50), nil)
	var buf bytes.Buffer
	e.ghosts.log = slog.New(slog.NewJSONHandler(&buf, nil))
	e.ghosts.SweepOnce(context.Background())
	var detected, more int
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err, line)
		}
		switch rec["msg"] {
		case "ghost.detected":
			detected++
		case "ghost.detected_more":
			more++
			if rec["not_logged"] != float64(50-maxGhostChangesLogged) {
				t.Errorf("summary %v", rec)
			}
		}
	}
	if detected != maxGhostChangesLogged || more != 1 {
		t.Fatalf("%d ghost.detected and %d summary lines for 50 new ghosts:\n%s", detected, more, buf.String())
	}
	var doc api.Ghosts
	if code := serve(t, e, "/ghosts", &doc); code != http.StatusOK || len(doc.Ghosts) != 50 {
		t.Fatalf("/ghosts lists %d of 50 (%d)", len(doc.Ghosts), code)
	}
}

// A ledger read without its filter (every other cluster's live token a
// ghost) stops the ghost sweep as soon as the guard's refusal is certain,
// instead of holding every row in memory first.
func TestGhostSweepStopsReadingOnceImplausible(t *testing.T) {
	e, _, gl := ghostExporter(t, bothOn, "--sweep.guard-min-namespaces=3")
	gl.set(liveRows("other-%05d", 10_000), nil)
	e.ghosts.SweepOnce(context.Background())
	var body api.Error
	if code := serve(t, e, "/ghosts", &body); code != http.StatusServiceUnavailable || !strings.Contains(body.Error, StageGuard) ||
		!strings.Contains(body.Error, "stopped reading") {
		t.Fatalf("/ghosts: %d %+v", code, body)
	}
	// Three namespaces: the fourth token without one is more than half.
	if n := gl.visited.Load(); n > 4 {
		t.Fatalf("read %d of 10 000 rows before stopping", n)
	}
	if current, _, up := ghostGauges(t, e); up != 0 || current[api.KindRedis] != 0 {
		t.Fatalf("gauges after a refused ghost sweep: current %v up %v", current, up)
	}
}
