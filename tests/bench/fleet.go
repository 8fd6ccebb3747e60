package bench

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/orphansweep/orphans/internal/testenv"
)

// Prefix is the tenant namespace prefix of the bench fleet (the exporter's default).
const Prefix = "instant-customer-"

// liveStatuses are the exporter's default live statuses.
var liveStatuses = []string{"pending", "active", "paused", "suspended"}

var terminalStatuses = []string{"deleted", "expired", "reaped", "failed"}

// ClusterColumn and Cluster are the column of the ledger that names a row's
// cluster and the value of the fleet's own; other clusters' rows carry
// OtherCluster.
const (
	ClusterColumn = "cluster"
	Cluster       = "bench-a"
	OtherCluster  = "bench-b"
)

// Fleet is N tenant namespaces and M ledger rows shaped like a platform's
// ledger shared by several clusters (its `cluster` column names the one a
// row belongs to): one namespace in a hundred orphaned (a third with a
// terminal redis row, a third with a terminal postgres row, a third with no
// row at all), every other namespace live, and most rows belonging to
// tokens without a namespace here. Nine in ten of those tokens are other
// clusters' tenants, whose rows are live with odds 11 to 9, so that about
// half of all rows are live; the tenth are this cluster's history, all
// terminal, except about one token per hundred namespaces that keeps a live
// row: this cluster's ghosts.
type Fleet struct {
	N, M int
	// Tokens of the namespaces, in creation order.
	Tokens []string
	// Orphans are the namespaces any correct sweep must report.
	Orphans map[string]bool
	seed    uint64
}

// NewFleet lays out a fleet. M must leave room for the namespaces' own rows.
func NewFleet(n, m int, seed uint64) (*Fleet, error) {
	if n < 1 {
		return nil, fmt.Errorf("fleet: %d namespaces: want at least 1", n)
	}
	f := &Fleet{N: n, M: m, Orphans: map[string]bool{}, seed: seed}
	rng := rand.New(rand.NewPCG(seed, 1))
	f.Tokens = make([]string, n)
	for i := range f.Tokens {
		f.Tokens[i] = uuidFrom(rng)
		if orphan(i) {
			f.Orphans[Prefix+f.Tokens[i]] = true
		}
	}
	if own := f.namespaceRows(); m < own {
		return nil, fmt.Errorf("fleet: %d rows cannot hold the %d rows of %d namespaces", m, own, n)
	}
	return f, nil
}

func orphan(i int) bool { return i%100 == 0 }

// namespaceRows counts the rows that belong to the namespaces' tokens.
func (f *Fleet) namespaceRows() int {
	rows := 0
	for i := 0; i < f.N; i++ {
		rows += len(f.rowsOf(i, time.Time{}))
	}
	return rows
}

// rowsOf returns the ledger rows of namespace i.
func (f *Fleet) rowsOf(i int, now time.Time) []testenv.Row {
	tok := f.Tokens[i]
	day := 24 * time.Hour
	if orphan(i) {
		switch (i / 100) % 3 {
		case 0:
			return []testenv.Row{
				{Token: tok, Status: "failed", ResourceType: "redis", CreatedAt: now.Add(-40 * day)},
				{Token: tok, Status: "deleted", ResourceType: "redis", CreatedAt: now.Add(-10 * day)},
			}
		case 1:
			return []testenv.Row{{Token: tok, Status: "expired", ResourceType: "postgres", CreatedAt: now.Add(-20 * day)}}
		default:
			return nil
		}
	}
	typ := "postgres"
	if i%2 == 1 {
		typ = "redis"
	}
	rows := []testenv.Row{{Token: tok, Status: liveStatuses[i%len(liveStatuses)], ResourceType: typ, CreatedAt: now.Add(-time.Duration(i%300) * day)}}
	if i%4 == 0 {
		// re-provisioned once: an older, terminal row of the same token
		rows = append(rows, testenv.Row{Token: tok, Status: "deleted", ResourceType: typ, CreatedAt: now.Add(-400 * day)})
	}
	return rows
}

// rowSource yields a fleet's M ledger rows in load order: the namespaces'
// own rows spread over the whole table, as years of appends leave them (a
// row of the fleet can be on any page), between the rows of tokens without a
// namespace in this cluster. The same fleet yields the same rows.
type rowSource struct {
	f   *Fleet
	now time.Time
	rng *rand.Rand
	// own rows still to come, the next namespace whose rows to emit, and the
	// rest of its rows
	ownLeft, nextNS int
	pending         []testenv.Row
	emitted         int
	// the current token without a namespace, how many of its rows are left,
	// whether it is this cluster's and whether a ghost (its first row live)
	extra       string
	left        int
	here, ghost bool
	first       bool
	hereTokens  int
	ghostEvery  int
}

// Row is one ledger row of the fleet and the cluster it belongs to.
type Row struct {
	testenv.Row
	Cluster string
}

func (f *Fleet) rows(now time.Time) *rowSource {
	s := &rowSource{f: f, now: now, rng: rand.New(rand.NewPCG(f.seed, 2)), ownLeft: f.namespaceRows()}
	// About one ghost per hundred namespaces: tokens without a namespace
	// have 1.5 rows on average, and one in ten is this cluster's.
	hereTokens := (f.M - s.ownLeft) * 2 / 3 / 10
	s.ghostEvery = max(1, hereTokens/max(1, f.N/100))
	return s
}

// next returns the next row, whether it belongs to a namespace's token, and
// false after the last.
func (s *rowSource) next() (r Row, own, ok bool) {
	f := s.f
	if s.emitted == f.M {
		return Row{}, false, false
	}
	s.emitted++
	if s.ownLeft > 0 && s.rng.IntN(f.M-s.emitted+1) < s.ownLeft {
		for len(s.pending) == 0 {
			s.pending = f.rowsOf(s.nextNS, s.now)
			s.nextNS++
		}
		r.Row, s.pending = s.pending[0], s.pending[1:]
		r.Cluster = Cluster
		s.ownLeft--
		return r, true, true
	}
	if s.left == 0 {
		s.extra, s.left, s.first = uuidFrom(s.rng), 1+s.rng.IntN(2), true
		s.here, s.ghost = s.rng.IntN(10) == 0, false
		if s.here {
			s.hereTokens++
			s.ghost = s.hereTokens%s.ghostEvery == 0
		}
	}
	s.left--
	status := terminalStatuses[s.rng.IntN(len(terminalStatuses))]
	live := liveStatuses[s.rng.IntN(len(liveStatuses))]
	switch {
	case s.here && s.ghost && s.first:
		status = live
	case !s.here && s.rng.IntN(20) < 11:
		status = live
	}
	s.first = false
	cluster := OtherCluster
	if s.here {
		cluster = Cluster
	}
	typ := "postgres"
	if s.rng.IntN(3) == 0 {
		typ = "redis"
	}
	// At least a day old: every live one is past any ghost grace up to a day.
	age := time.Duration(24+s.rng.IntN(3*365*24)) * time.Hour
	return Row{Row: testenv.Row{Token: s.extra, Status: status, ResourceType: typ, CreatedAt: s.now.Add(-age)}, Cluster: cluster}, false, true
}

// GhostMinAge is the age of the youngest row of a token without a namespace
// when the ledger is loaded.
const GhostMinAge = 24 * time.Hour

// LiveRows counts the fleet's live rows, and those of them that are the
// other cluster's.
func (f *Fleet) LiveRows() (live, other int) {
	src := f.rows(time.Now())
	for {
		r, _, ok := src.next()
		if !ok {
			return live, other
		}
		if slices.Contains(liveStatuses, r.Status) {
			live++
			if r.Cluster != Cluster {
				other++
			}
		}
	}
}

// Ghosts returns, sorted, this cluster's tokens without a namespace that
// have a live row: every such row is at least GhostMinAge old, so these are
// the ghosts a ghost sweep of this cluster's rows (--ghosts.filter-column)
// with a grace up to GhostMinAge must report.
func (f *Fleet) Ghosts() []string {
	ns := make(map[string]bool, len(f.Tokens))
	for _, t := range f.Tokens {
		ns[t] = true
	}
	seen := map[string]bool{}
	src := f.rows(time.Now())
	for {
		r, own, ok := src.next()
		if !ok {
			break
		}
		if !own && r.Cluster == Cluster && !ns[r.Token] && slices.Contains(liveStatuses, r.Status) {
			seen[r.Token] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// LoadLedger creates the ledger in database db of pg: the reference schema,
// filled with one COPY, the token index built after the load (as a restore
// would) and the table analysed.
func (f *Fleet) LoadLedger(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, testenv.LedgerSchema); err != nil {
		return fmt.Errorf("ledger schema: %w", err)
	}
	for _, stmt := range []string{
		"DROP INDEX resources_token_idx",
		"ALTER TABLE resources ADD COLUMN " + ClusterColumn + " text NOT NULL DEFAULT ''",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	rows := f.rows(time.Now().UTC())
	src := pgx.CopyFromFunc(func() ([]any, error) {
		r, _, ok := rows.next()
		if !ok {
			return nil, nil
		}
		return []any{r.Token, r.Status, r.ResourceType, r.CreatedAt, r.Cluster}, nil
	})
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"resources"}, []string{"token", "status", "resource_type", "created_at", ClusterColumn}, src)
	if err != nil {
		return fmt.Errorf("load ledger rows: %w", err)
	}
	if int(n) != f.M {
		return fmt.Errorf("load ledger rows: %d copied, want %d", n, f.M)
	}
	for _, stmt := range []string{"CREATE INDEX resources_token_idx ON resources (token)", "VACUUM ANALYZE resources"} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// CreateNamespaces creates the fleet's namespaces with a few concurrent,
// unthrottled clients. progress is called now and then with the count so far.
func (f *Fleet) CreateNamespaces(ctx context.Context, admin *rest.Config, workers int, progress func(int)) error {
	return createAll(ctx, admin, workers, f.N, func(ctx context.Context, cs kubernetes.Interface, i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Prefix + f.Tokens[i]}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %d of %d: %w", i+1, f.N, err)
		}
		return nil
	}, progress)
}

// What each orphan's namespace holds when contents are measured: a few pods
// (Pending: no kubelet runs them) and PVCs (Pending: no storage class binds
// them), none owned by a controller.
const (
	OrphanPods = 3
	OrphanPVCs = 2
	// OrphanPVCBytes is each PVC's storage request.
	OrphanPVCBytes = 10 << 30
)

// OrphanNamespaces returns the orphans' namespaces, sorted.
func (f *Fleet) OrphanNamespaces() []string {
	return slices.Sorted(maps.Keys(f.Orphans))
}

// CreateContents puts OrphanPods pods and OrphanPVCs PVCs into every orphan's
// namespace, with a few concurrent, unthrottled clients.
func (f *Fleet) CreateContents(ctx context.Context, admin *rest.Config, workers int) error {
	orphans := f.OrphanNamespaces()
	storage := *resource.NewQuantity(OrphanPVCBytes, resource.BinarySI)
	return createAll(ctx, admin, workers, len(orphans), func(ctx context.Context, cs kubernetes.Interface, i int) error {
		ns := orphans[i]
		for j := range OrphanPVCs {
			_, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("data-%d", j)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: storage}},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create a PVC in orphan %d: %w", i+1, err)
			}
		}
		for j := range OrphanPods {
			_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", j)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres"}}},
			}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create a pod in orphan %d: %w", i+1, err)
			}
		}
		return nil
	}, nil)
}

// createAll calls create for 0..n-1 on a few concurrent, unthrottled clients
// and stops at the first error. progress, when set, is called now and then
// with the count so far.
func createAll(ctx context.Context, admin *rest.Config, workers, n int, create func(context.Context, kubernetes.Interface, int) error, progress func(int)) error {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		once       sync.Once
		firstErr   error
	)
	step := int64(max(n/10, 1))
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := create(ctx, cs, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				if d := done.Add(1); d%step == 0 && progress != nil {
					progress(int(d))
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// uuidFrom draws a version 4 UUID in canonical form.
func uuidFrom(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
