// Package bench measures orphans-exporter at platform scale against the naive
// sweep it replaces, on the real test bed: a fleet of tenant namespaces in a
// real kube-apiserver and a ledger of rows in a real PostgreSQL. Both
// programs run as their own processes against the same fleet, one after the
// other, and are measured the same way; the report gives every figure
// absolute and as a ratio against the baseline.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/testenv"
)

// Size is one fleet: N namespaces and M ledger rows.
type Size struct{ N, M int }

func (s Size) String() string { return fmt.Sprintf("%dx%d", s.N, s.M) }

// ParseSizes reads "1000x100000,10000x1000000".
func ParseSizes(s string) ([]Size, error) {
	var out []Size
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, m, ok := strings.Cut(part, "x")
		if !ok {
			return nil, fmt.Errorf("size %q: want NAMESPACESxROWS", part)
		}
		nn, err1 := strconv.Atoi(strings.ReplaceAll(n, "_", ""))
		mm, err2 := strconv.Atoi(strings.ReplaceAll(m, "_", ""))
		if err1 != nil || err2 != nil || nn < 1 || mm < 1 {
			return nil, fmt.Errorf("size %q: want positive NAMESPACESxROWS", part)
		}
		out = append(out, Size{nn, mm})
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}

// Options configure a run.
type Options struct {
	Sizes []Size
	// ExporterOnly sizes measure the exporter alone, without the baseline:
	// extra points for the scaling targets, cheap next to the baseline's
	// hours at large sizes.
	ExporterOnly []Size
	// Features, when set, is the size at which the ghost sweep and contents
	// are measured, after the sizes (see Features). Without sizes, that is
	// all a run measures.
	Features *Size
	// Fresh, when set, is the size at which fresh checks are measured while
	// the contents loop reads (see Fresh), after the features.
	Fresh *Size
	// GhostInterval is the exporter's --ghosts.interval in the features'
	// ghost run (10s when 0).
	GhostInterval time.Duration
	// Sweeps measured per program and size (after the warm-up).
	Sweeps int
	// Interval between sweeps, for both programs; the exporter's sweep and
	// ledger timeouts are set to it.
	Interval time.Duration
	// ExporterBinary is the orphans-exporter executable.
	ExporterBinary string
	// Baseline is the command that runs BaselineMain with the flags that
	// follow it (for the bench program: itself and "baseline").
	Baseline []string
	// BaselineEnv is added to the baseline's environment.
	BaselineEnv []string
	// Workers create namespaces concurrently.
	Workers int
	// Pace is the time between two requests of each HTTP client.
	Pace time.Duration
	// WorkDir receives kubeconfigs and program logs; a temporary directory when empty.
	WorkDir string
	// GoBench runs the pure decision's Go benchmarks with this go command
	// in RepoRoot when not empty.
	GoBench  string
	RepoRoot string
	// Command is how the run was invoked, for the report, and Make the make
	// target that invoked it, if one did.
	Command, Make string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Checkpoint, when set, receives the report so far after each size,
	// so a long run that fails late still leaves its numbers behind.
	Checkpoint func(*Report)
}

// PostgresSettings tune the bench's PostgreSQL for a ledger of millions of
// rows held in memory, as a platform's ledger server would be; everything
// else is PostgreSQL's default (and the test bed's no-fsync settings).
var PostgresSettings = map[string]string{
	"shared_buffers":       "1GB",
	"effective_cache_size": "4GB",
	"work_mem":             "64MB",
	"maintenance_work_mem": "1GB",
	"max_wal_size":         "8GB",
	"checkpoint_timeout":   "30min",
}

// Warm-up sweeps before a window. PostgreSQL plans a prepared statement
// afresh on each of its first five executions on a connection before it
// may keep a cached plan, so the exporter's window starts after those; the
// baseline keeps nothing from one sweep to the next.
const (
	exporterWarmup = 5
	baselineWarmup = 1
)

// Users the two programs run as, so the audit log tells their requests apart.
const (
	ExporterUser = "orphans-bench-exporter"
	BaselineUser = "orphans-bench-baseline"
)

// Result is one size's measurements.
type Result struct {
	Size               Size
	Orphans            int
	LoadLedger, Create time.Duration
	LoadBefore         string
	LoadAfter          string
	Exporter, Baseline *Phase
	// Agree is true when both programs found exactly the fleet's orphans.
	Agree    bool
	Mismatch string
}

// Report is a whole run.
type Report struct {
	Started, Finished time.Time
	Options           Options
	Machine           Machine
	Results           []*Result
	GoBench           []GoBenchmark
	GoBenchRaw        string
	// Features is the ghost sweep and contents measurement, when run.
	Features *Features
	// Fresh is the fresh-check measurement, when run.
	Fresh *Fresh
}

// Machine describes where the numbers come from.
type Machine struct {
	CPU, Cores, Memory, Kernel  string
	Go, Postgres, KubeAPIServer string
	JIT                         string
}

// Run measures every size and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Sweeps < 1 || o.Interval < time.Second || o.ExporterBinary == "" || len(o.Sizes) == 0 && o.Features == nil && o.Fresh == nil ||
		len(o.Sizes)+len(o.ExporterOnly) > 0 && (len(o.Sizes) == 0 || len(o.Baseline) == 0) {
		return nil, errors.New("bench: sizes (or features or fresh checks alone), sweeps (>= 1), interval (>= 1s), exporter binary and baseline command are required")
	}
	if o.GhostInterval == 0 {
		o.GhostInterval = 10 * time.Second
	}
	if o.Workers < 1 {
		o.Workers = 8
	}
	if o.Pace <= 0 {
		o.Pace = 50 * time.Millisecond
	}
	if o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "orphans-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.WorkDir = dir
	}
	rep := &Report{Started: time.Now(), Options: o, Machine: describeMachine()}
	all := len(o.Sizes) + len(o.ExporterOnly)
	for i, size := range append(append([]Size{}, o.Sizes...), o.ExporterOnly...) {
		res, err := runSize(ctx, o, size, i < len(o.Sizes), &rep.Machine)
		if err != nil {
			return nil, fmt.Errorf("size %s: %w", size, err)
		}
		rep.Results = append(rep.Results, res)
		if o.Checkpoint != nil && (len(rep.Results) < all || o.Features != nil) {
			rep.Finished = time.Now()
			o.Checkpoint(rep)
		}
	}
	if o.Features != nil {
		f, err := runFeatures(ctx, o, *o.Features, &rep.Machine)
		if err != nil {
			return nil, fmt.Errorf("features at %s: %w", *o.Features, err)
		}
		rep.Features = f
	}
	if o.Fresh != nil {
		f, err := runFresh(ctx, o, *o.Fresh, &rep.Machine)
		if err != nil {
			return nil, fmt.Errorf("fresh checks at %s: %w", *o.Fresh, err)
		}
		rep.Fresh = f
	}
	if o.GoBench != "" && len(o.Sizes) > 0 {
		raw, benches, err := runGoBench(ctx, o.GoBench, o.RepoRoot)
		if err != nil {
			return nil, err
		}
		rep.GoBenchRaw, rep.GoBench = raw, benches
	}
	rep.Finished = time.Now()
	return rep, nil
}

// describeMachine is what the report says of the machine; the versions of
// PostgreSQL and the API server are filled in once they run.
func describeMachine() Machine {
	m := Machine{CPU: cpuModel(), Cores: strconv.Itoa(runtime.NumCPU()), Memory: memTotal(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// bed is one fleet on the test bed: its ledger in PostgreSQL, its
// namespaces in a control plane whose audit log records the requests of the
// bench users, each of whom may do what the exporter's shipped role allows.
type bed struct {
	size        Size
	fleet       *Fleet
	pg          *testenv.Postgres
	dsn         string
	cp          *testenv.ControlPlane
	kubeconfigs map[string]string
	dir         string
	// exporterEnv is added to the exporter's environment.
	exporterEnv []string
	// LoadLedger and Create are how long the ledger and the namespaces took.
	loadLedger, create time.Duration
}

func newBed(ctx context.Context, o Options, size Size, users []string, machine *Machine) (b *bed, err error) {
	b = &bed{size: size, kubeconfigs: map[string]string{}}
	defer func() {
		if err != nil {
			b.stop()
		}
	}()
	o.progress("size %s: laying out the fleet", size)
	if b.fleet, err = NewFleet(size.N, size.M, uint64(size.N)*1_000_003+uint64(size.M)); err != nil {
		return b, err
	}
	if b.pg, err = testenv.StartPostgres(ctx, testenv.PostgresOptions{Settings: PostgresSettings}); err != nil {
		return b, err
	}
	if b.dsn, err = b.pg.CreateDatabase(ctx, "ledger"); err != nil {
		return b, err
	}
	if err := describePostgres(ctx, b.dsn, machine); err != nil {
		return b, err
	}
	start := time.Now()
	if err := b.fleet.LoadLedger(ctx, b.dsn); err != nil {
		return b, err
	}
	b.loadLedger = time.Since(start)
	o.progress("size %s: %d ledger rows loaded, indexed and analysed in %s", size, size.M, b.loadLedger.Round(time.Second))

	if b.cp, err = testenv.StartControlPlane(testenv.ControlPlaneOptions{AuditUsers: users}); err != nil {
		return b, err
	}
	admin, err := b.cp.Clientset()
	if err != nil {
		return b, err
	}
	if v, err := admin.Discovery().ServerVersion(); err == nil {
		machine.KubeAPIServer = v.GitVersion
	}
	b.dir = filepath.Join(o.WorkDir, size.String())
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return b, err
	}
	for _, user := range users {
		if b.kubeconfigs[user], err = namespaceReader(ctx, b.cp, admin, user, b.dir); err != nil {
			return b, err
		}
	}
	start = time.Now()
	err = b.fleet.CreateNamespaces(ctx, b.cp.Admin, o.Workers, func(n int) {
		o.progress("size %s: %d of %d namespaces created", size, n, size.N)
	})
	if err != nil {
		return b, err
	}
	b.create = time.Since(start)
	o.progress("size %s: %d namespaces created in %s", size, size.N, b.create.Round(time.Second))
	return b, nil
}

func (b *bed) stop() {
	if b.cp != nil {
		_ = b.cp.Stop()
	}
	if b.pg != nil {
		b.pg.Stop()
	}
}

// env is the programs' environment: the harness's, without its own ORPHAN*
// settings and kubeconfig, with the ledger's DSN and extra.
func (b *bed) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORPHAN") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			out = append(out, kv)
		}
	}
	return append(append(out, "ORPHANS_LEDGER_DSN="+b.dsn), extra...)
}

// startExporter starts the exporter as user, with the bench's flags and
// extra ones after them, its log in the bed's directory under name.
func (b *bed) startExporter(o Options, name, user string, extra ...string) (*process, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	url, metricsURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort), fmt.Sprintf("http://127.0.0.1:%d", port)
	interval := o.Interval.String()
	argv := append([]string{o.ExporterBinary,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		fmt.Sprintf("--api.listen-address=127.0.0.1:%d", apiPort),
		"--kubeconfig=" + b.kubeconfigs[user],
		"--sweep.interval=" + interval, "--sweep.timeout=" + interval, "--ledger.query-timeout=" + interval,
		"--sweep.grace=0s", "--kubernetes.qps=-1", "--log.level=warn",
	}, extra...)
	proc, err := startProcess(name, argv, b.env(append([]string{"ORPHAN_DB_SWEEP_ENABLED=true"}, b.exporterEnv...)...), url, metricsURL, filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	o.progress("size %s: %s started", b.size, name)
	return proc, nil
}

// runExporter starts the exporter as user with extra flags, measures it
// with the bench's settings (spec's process, user and sweep counts are
// filled in), gives it to after (when set) while it still runs, and stops it.
func (b *bed) runExporter(ctx context.Context, o Options, name, user string, spec phaseSpec, after func(*process) error, extra ...string) (*Phase, error) {
	proc, err := b.startExporter(o, name, user, extra...)
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	spec.proc, spec.user, spec.cp, spec.dsn, spec.pace = proc, user, b.cp, b.dsn, o.Pace
	spec.sweepMetric, spec.errorMetric = "instant_orphan_db_sweep_duration_seconds", "instant_orphan_db_sweep_errors_total"
	spec.sweeps, spec.warmup, spec.firstTimeout = o.Sweeps, exporterWarmup, 10*time.Minute
	ph, err := measure(ctx, spec, o.progress)
	if err != nil {
		return nil, err
	}
	ph.Interval = o.Interval
	if after != nil {
		if err := after(proc); err != nil {
			return nil, err
		}
	}
	return ph, nil
}

func runSize(ctx context.Context, o Options, size Size, withBaseline bool, machine *Machine) (*Result, error) {
	res := &Result{Size: size, LoadBefore: loadAverage()}
	b, err := newBed(ctx, o, size, []string{ExporterUser, BaselineUser}, machine)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	res.Orphans, res.LoadLedger, res.Create = len(b.fleet.Orphans), b.loadLedger, b.create

	// exporter
	res.Exporter, err = b.runExporter(ctx, o, "exporter", ExporterUser, phaseSpec{}, nil, plainFlags...)
	if err != nil {
		return nil, err
	}
	want := b.fleet.OrphanNamespaces()
	agree := func(ph *Phase) {
		if !equal(ph.Found, want) {
			res.Agree = false
			res.Mismatch += fmt.Sprintf("%s found %d candidates, the fleet has %d orphans; ", ph.Name, len(ph.Found), len(want))
		}
	}
	res.Agree = true
	agree(res.Exporter)
	if !withBaseline {
		res.LoadAfter = loadAverage()
		o.progress("size %s: exporter sweep median %s (no baseline at this size)", size, percentile(res.Exporter.Sweeps, 0.5).Round(time.Microsecond))
		return res, nil
	}

	// baseline
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	argv := append(append([]string{}, o.Baseline...),
		fmt.Sprintf("--listen=127.0.0.1:%d", port),
		"--kubeconfig="+b.kubeconfigs[BaselineUser],
		"--interval="+o.Interval.String(), "--grace=0s", "--kubernetes.qps=-1",
	)
	proc, err := startProcess("baseline", argv, b.env(o.BaselineEnv...), url, url, filepath.Join(b.dir, "baseline.log"))
	if err != nil {
		return nil, err
	}
	o.progress("size %s: baseline started", size)
	res.Baseline, err = measure(ctx, phaseSpec{
		proc: proc, user: BaselineUser, cp: b.cp, dsn: b.dsn, pace: o.Pace,
		sweepMetric: baselineSweeps, errorMetric: baselineErrors,
		sweeps: o.Sweeps, warmup: baselineWarmup, firstTimeout: time.Hour,
	}, o.progress)
	proc.stop()
	if err != nil {
		return nil, err
	}
	res.Baseline.Interval = o.Interval
	agree(res.Baseline)
	res.LoadAfter = loadAverage()
	o.progress("size %s: exporter sweep median %s, baseline %s", size,
		percentile(res.Exporter.Sweeps, 0.5).Round(time.Microsecond), percentile(res.Baseline.Sweeps, 0.5).Round(time.Millisecond))
	return res, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// namespaceReader makes a user allowed to get, list and watch namespaces and
// nothing else, and writes its kubeconfig into dir.
func namespaceReader(ctx context.Context, cp *testenv.ControlPlane, admin kubernetes.Interface, user, dir string) (string, error) {
	const role = "orphans-bench-namespace-reader"
	_, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules:      testenv.ExporterRules(),
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	u, err := cp.AddUser(user)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, user+".kubeconfig")
	return path, testenv.WriteKubeconfig(u, path)
}

func describePostgres(ctx context.Context, dsn string, m *Machine) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var jit bool
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), pg_jit_available()").Scan(&m.Postgres, &jit); err != nil {
		return err
	}
	m.JIT = "not available in this build"
	if jit {
		var on string
		if err := conn.QueryRow(ctx, "SHOW jit").Scan(&on); err != nil {
			return err
		}
		m.JIT = "available, jit=" + on
	}
	return nil
}
