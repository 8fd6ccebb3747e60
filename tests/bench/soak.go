package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// SoakUser is the Kubernetes user the soak's exporter runs as.
const SoakUser = "orphans-soak-exporter"

// SoakOptions configure a soak run.
type SoakOptions struct {
	Size     Size
	Duration time.Duration
	// Interval is the exporter's sweep interval, Churn the time between two
	// rounds of changes (each round: a namespace created, one deleted, a
	// token's rows turned terminal and another's turned live).
	Interval, Churn time.Duration
	// Outage is how long PostgreSQL, then the API server, stay down.
	Outage time.Duration
	// Settle is how long before a sweep a change must be done for the sweep
	// to be held to it (see Check).
	Settle time.Duration
	// Sample is the time between two samples of the exporter's resources.
	Sample         time.Duration
	ExporterBinary string
	Workers        int
	WorkDir        string
	Command, Make  string
	Progress       func(format string, args ...any) `json:"-"`
}

// Flags of the soak's exporter after the bench's own: contents on and
// every time-based reclaim guard at zero, so candidates turn reclaimable
// within the soak (after --sweep.confirmations sweeps and a contents read),
// and the ghost sweep off.
var soakFlags = []string{
	"--ghosts.interval=0s", "--contents.interval=10s", "--contents.qps=100",
	"--reclaim.min-evidence-age=0s", "--reclaim.quiet-period=0s",
}

// Sample is the exporter's resources at one moment.
type Sample struct {
	At                      time.Time
	RSS                     uint64
	Goroutines, OpenFDs     int
	PostgresConns, APIConns int
	Sweeps, FailedSweeps    int
	ContentsRequests        int
	LoadAvg1m               string
}

// Outage is one restart of a dependency: Down is when the stop began, Up
// when the start returned.
type Outage struct {
	What     string
	Down, Up time.Time
}

// Soak is a whole soak run.
type Soak struct {
	Options           SoakOptions
	Machine           Machine
	Started, Finished time.Time
	LoadLedger        time.Duration
	Create            time.Duration
	Orphans           int
	FirstSweep        time.Duration
	Samples           []Sample
	Checks            []Check
	Outages           []Outage
	// Failed is every non-200 answer of /candidates, by when it was read.
	Failed []time.Time
	// Changes made by the driver, by kind, and those that failed.
	Changes     map[string]int
	ChangeFails int
	Unsure      int
	Confirm     int
}

// RunSoak lays out the fleet, runs the exporter on it for o.Duration while
// the driver churns namespaces and rows and restarts PostgreSQL and the API
// server once each, and judges every sweep.
func RunSoak(ctx context.Context, o SoakOptions) (*Soak, error) {
	if o.Duration < time.Minute || o.Interval < time.Second || o.ExporterBinary == "" {
		return nil, errors.New("soak: duration (>= 1m), interval (>= 1s) and exporter binary are required")
	}
	if o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "orphans-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.WorkDir = dir
	}
	bo := Options{Interval: o.Interval, ExporterBinary: o.ExporterBinary, Workers: o.Workers, WorkDir: o.WorkDir}
	if o.Progress != nil {
		bo.Progress = progressWriter(o.Progress)
	}
	s := &Soak{Options: o, Started: time.Now(), Changes: map[string]int{}, Machine: describeMachine()}
	b, err := newBed(ctx, bo, o.Size, []string{SoakUser}, &s.Machine)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	s.LoadLedger, s.Create, s.Orphans = b.loadLedger, b.create, len(b.fleet.Orphans)

	truth := NewTruth(nil)
	for i, tok := range b.fleet.Tokens {
		rows := b.fleet.rowsOf(i, time.Time{})
		st := NSState{Exists: true}
		typ := "postgres"
		for _, r := range rows {
			st.Live = st.Live || slices.Contains(liveStatuses, r.Status)
			typ = r.ResourceType
		}
		truth.Add(Prefix+tok, tok, typ, st)
	}

	b.exporterEnv = []string{"ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED=true"}
	proc, err := b.startExporter(bo, "soak", SoakUser, soakFlags...)
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	r := &soakRun{s: s, o: o, b: b, proc: proc, truth: truth, last: time.Time{}}
	if err := r.warmUp(ctx); err != nil {
		return nil, err
	}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	s.Finished = time.Now()
	return s, nil
}

type soakRun struct {
	s     *Soak
	o     SoakOptions
	b     *bed
	proc  *process
	truth *Truth

	mu sync.Mutex
	// last is the start of the last sweep judged.
	last time.Time
	// pausedRows and pausedNamespaces stop the driver's changes to what is
	// down; round is held through each round of changes, so that a pause
	// takes effect before the stop.
	pausedRows, pausedNamespaces bool
	round                        sync.Mutex
}

func (r *soakRun) progress(format string, args ...any) {
	if r.o.Progress != nil {
		r.o.Progress(format, args...)
	}
}

// warmUp waits for the first successful sweep and --sweep.confirmations
// more, then takes the first sample.
func (r *soakRun) warmUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	seen := 0
	for seen < 1+exporterWarmup {
		if err := r.proc.alive(); err != nil {
			return err
		}
		doc, _, err := candidates(ctx, r.proc.url)
		if ctx.Err() != nil {
			return fmt.Errorf("soak: no %d successful sweeps: %w; log tail:\n%s", 1+exporterWarmup, ctx.Err(), tail(r.proc.logPath, 20))
		}
		if err == nil && doc != nil && doc.Sweep.OK && doc.GeneratedAt.After(r.last) {
			if seen == 0 {
				r.s.FirstSweep = time.Since(r.proc.started)
				r.s.Confirm = doc.Policy.Confirmations
			}
			r.last = doc.GeneratedAt
			r.s.Checks = append(r.s.Checks, r.truth.Judge(doc, r.o.Settle))
			seen++
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.progress("soak: first sweep %s after start; %d sweeps judged before the churn", r.s.FirstSweep.Round(time.Millisecond), seen)
	return r.sample(ctx)
}

func (r *soakRun) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	fail := func(err error) {
		errOnce.Do(func() { runErr = err; cancel() })
	}
	cs, err := unthrottled(r.b.cp.Admin)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, r.b.dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	d := &driver{truth: r.truth, cs: cs, pool: pool, rng: rand.New(rand.NewPCG(uint64(r.o.Size.N), 3)), counts: r.s.Changes}
	wg.Go(func() { r.every(ctx, r.o.Churn, func() error { return r.churn(ctx, d) }, fail) })
	wg.Go(func() { r.every(ctx, 100*time.Millisecond, func() error { return r.poll(ctx) }, fail) })
	wg.Go(func() { r.every(ctx, r.o.Sample, func() error { return r.sample(ctx) }, fail) })

	start := time.Now()
	wait := func(until time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(until))):
			return true
		}
	}
	if wait(r.o.Duration * 2 / 5) {
		if err := r.outage(ctx, "PostgreSQL", &r.pausedRows, r.b.pg.Halt, func() error { return r.b.pg.Start(ctx) }); err != nil {
			fail(err)
		}
	}
	if wait(r.o.Duration * 13 / 20) {
		if err := r.outage(ctx, "API server", &r.pausedNamespaces, r.b.cp.StopAPIServer, r.b.cp.StartAPIServer); err != nil {
			fail(err)
		}
	}
	wait(r.o.Duration)
	cancel()
	wg.Wait()
	if runErr != nil {
		return runErr
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	r.s.ChangeFails, r.s.Unsure = d.fails, r.truth.Unsure()
	return r.sample(context.Background())
}

// every calls f every period until ctx ends or f fails.
func (r *soakRun) every(ctx context.Context, period time.Duration, f func() error, fail func(error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f(); err != nil && ctx.Err() == nil {
			fail(err)
			return
		}
	}
}

// outage stops a dependency, pauses the changes that need it, waits
// o.Outage and starts it again; the outage ends with the first successful
// sweep that started after it.
func (r *soakRun) outage(ctx context.Context, what string, pause *bool, stop, start func() error) error {
	r.setPaused(pause, true)
	out := Outage{What: what, Down: time.Now()}
	r.progress("soak: stopping %s", what)
	if err := stop(); err != nil {
		return fmt.Errorf("stop %s: %w", what, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.o.Outage):
	}
	if err := start(); err != nil {
		return fmt.Errorf("start %s again: %w", what, err)
	}
	out.Up = time.Now()
	r.setPaused(pause, false)
	r.progress("soak: %s back after %s", what, out.Up.Sub(out.Down).Round(time.Second))
	r.mu.Lock()
	r.s.Outages = append(r.s.Outages, out)
	r.mu.Unlock()
	return nil
}

func (r *soakRun) setPaused(p *bool, v bool) {
	r.round.Lock()
	defer r.round.Unlock()
	r.mu.Lock()
	*p = v
	r.mu.Unlock()
}

// poll reads /candidates and judges each sweep once.
func (r *soakRun) poll(ctx context.Context) error {
	if err := r.proc.alive(); err != nil {
		return err
	}
	doc, _, err := candidates(ctx, r.proc.url)
	if ctx.Err() != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || doc == nil || !doc.Sweep.OK {
		r.s.Failed = append(r.s.Failed, time.Now())
		return nil
	}
	if !doc.GeneratedAt.After(r.last) {
		return nil
	}
	r.last = doc.GeneratedAt
	c := r.truth.Judge(doc, r.o.Settle)
	r.s.Checks = append(r.s.Checks, c)
	if !c.Exact() || c.ReclaimableFalse() > 0 {
		r.progress("soak: sweep at %s: %d missing, %d extra, %d reclaimable false positives",
			c.Sweep.Format("15:04:05.000"), len(c.Missing), len(c.Extra), c.ReclaimableFalse())
	}
	return nil
}

func (r *soakRun) churn(ctx context.Context, d *driver) error {
	r.round.Lock()
	defer r.round.Unlock()
	r.mu.Lock()
	rows, nss := !r.pausedRows, !r.pausedNamespaces
	r.mu.Unlock()
	if rows && nss {
		d.resolve(ctx)
	}
	if nss {
		d.create(ctx)
		d.delete(ctx)
	}
	if rows {
		d.turn(ctx, false)
		d.turn(ctx, true)
	}
	return nil
}

// sample reads the exporter's resources.
func (r *soakRun) sample(ctx context.Context) error {
	rss, _, err := r.proc.memory()
	if err != nil {
		return err
	}
	mfs, err := scrape(ctx, r.proc.metricsURL)
	if err != nil {
		return err
	}
	pgConns, err := tcpPeers(r.proc.cmd.Process.Pid, r.b.pg.Port)
	if err != nil {
		return err
	}
	apiPort, err := portOf(r.b.cp.Admin.Host)
	if err != nil {
		return err
	}
	apiConns, err := tcpPeers(r.proc.cmd.Process.Pid, apiPort)
	if err != nil {
		return err
	}
	value := func(name string) int { return int(familySum(mfs[name])) }
	s := Sample{
		At: time.Now(), RSS: rss, Goroutines: value("go_goroutines"), OpenFDs: value("process_open_fds"),
		PostgresConns: pgConns, APIConns: apiConns,
		Sweeps: value("instant_orphan_db_sweep_duration_seconds"), FailedSweeps: value("instant_orphan_db_sweep_errors_total"),
		ContentsRequests: value(contentsRequestsMetric), LoadAvg1m: strings.Fields(loadAverage() + " ?")[0],
	}
	r.mu.Lock()
	r.s.Samples = append(r.s.Samples, s)
	judged := len(r.s.Checks)
	r.mu.Unlock()
	r.progress("soak: RSS %s, %d goroutines, %d open fds, %d PostgreSQL and %d API server connections; %d sweeps judged",
		mib(rss), s.Goroutines, s.OpenFDs, pgConns, apiConns, judged)
	return nil
}

func portOf(host string) (int, error) {
	u, err := url.Parse(host)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Port())
}

func unthrottled(admin *rest.Config) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = -1, 0
	return kubernetes.NewForConfig(cfg)
}

// driver makes the soak's changes, one at a time, each recorded in the
// truth before it is issued and after it is done.
type driver struct {
	truth  *Truth
	cs     kubernetes.Interface
	pool   *pgxpool.Pool
	rng    *rand.Rand
	counts map[string]int
	// flip alternates what create makes and delete removes: a live
	// namespace, then an orphan.
	flipCreate, flipDelete bool
	fails                  int
	// failed are the namespaces whose last change failed, to be read back.
	failed []string
}

func (d *driver) done(kind, name string, finish func(bool), err error) {
	finish(err == nil)
	if err != nil {
		d.fails++
		d.failed = append(d.failed, name)
		return
	}
	d.counts[kind]++
}

// resolve reads back the state of the namespaces whose change failed; those
// it cannot read yet wait for the next round.
func (d *driver) resolve(ctx context.Context) {
	var left []string
	for _, name := range d.failed {
		tok, _, _ := d.truth.Lookup(name)
		var st NSState
		_, err := d.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			left = append(left, name)
			continue
		default:
			st.Exists = true
		}
		if err := d.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM resources WHERE token = $1 AND status = ANY($2))", tok, liveStatuses).Scan(&st.Live); err != nil {
			left = append(left, name)
			continue
		}
		d.truth.Resolve(name, st)
	}
	d.failed = left
}

// create makes a tenant namespace: alternately one with a live row written
// first, and one without any row (an orphan).
func (d *driver) create(ctx context.Context) {
	d.flipCreate = !d.flipCreate
	live := d.flipCreate
	tok := uuidFrom(d.rng)
	typ := []string{"redis", "postgres"}[d.rng.IntN(2)]
	name := Prefix + tok
	finish := d.truth.Begin(name, tok, typ, NSState{Exists: true, Live: live})
	err := func() error {
		if live {
			if err := d.insertLive(ctx, tok, typ); err != nil {
				return err
			}
		}
		_, err := d.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}()
	kind := "namespaces created without a row"
	if live {
		kind = "namespaces created with a live row"
	}
	d.done(kind, name, finish, err)
}

// delete removes a namespace, alternately a live one and an orphan, and
// finalizes it: no namespace controller runs to empty it.
func (d *driver) delete(ctx context.Context) {
	d.flipDelete = !d.flipDelete
	live := d.flipDelete
	names := d.truth.Pick(func(s NSState) bool { return s.Exists && s.Live == live })
	if len(names) == 0 {
		return
	}
	name := names[d.rng.IntN(len(names))]
	tok, typ, _ := d.truth.Lookup(name)
	finish := d.truth.Begin(name, tok, typ, NSState{Exists: false, Live: live})
	err := func() error {
		if err := d.cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		ns, err := d.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		ns.Spec.Finalizers = nil
		if _, err := d.cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return waitGone(ctx, d.cs, name)
	}()
	kind := "orphan namespaces deleted"
	if live {
		kind = "live namespaces deleted"
	}
	d.done(kind, name, finish, err)
}

func waitGone(ctx context.Context, cs kubernetes.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still there after finalize: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// turn makes an existing namespace's token live (a new live row) or
// terminal (every live row of it set to "deleted").
func (d *driver) turn(ctx context.Context, live bool) {
	names := d.truth.Pick(func(s NSState) bool { return s.Exists && s.Live != live })
	if len(names) == 0 {
		return
	}
	name := names[d.rng.IntN(len(names))]
	tok, typ, _ := d.truth.Lookup(name)
	finish := d.truth.Begin(name, tok, typ, NSState{Exists: true, Live: live})
	var err error
	kind := "tokens turned live"
	if live {
		err = d.insertLive(ctx, tok, typ)
	} else {
		kind = "tokens turned terminal"
		_, err = d.pool.Exec(ctx, "UPDATE resources SET status = 'deleted' WHERE token = $1 AND status = ANY($2)", tok, liveStatuses)
	}
	d.done(kind, name, finish, err)
}

func (d *driver) insertLive(ctx context.Context, tok, typ string) error {
	_, err := d.pool.Exec(ctx, "INSERT INTO resources (token, status, resource_type, created_at, "+ClusterColumn+") VALUES ($1, 'active', $2, now(), $3)",
		tok, typ, Cluster)
	return err
}

// progressWriter turns a progress function into the bench's io.Writer.
type progressWriter func(string, ...any)

func (p progressWriter) Write(b []byte) (int, error) {
	line := strings.TrimRight(string(b), "\n")
	if _, rest, ok := strings.Cut(line, " bench: "); ok {
		line = rest
	}
	p("%s", line)
	return len(b), nil
}
