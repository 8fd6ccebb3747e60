//go:build integration

package exporter

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/sweep"
	"github.com/orphansweep/orphans/internal/testenv"
)

// fleetGrace is the grace the tests run with: long enough that a namespace
// created right before a sweep is within it, short enough to wait out once.
const fleetGrace = 8 * time.Second

const prefix = "instant-customer-"

// Tokens of the seeded fleet, one per case the decision must get right.
const (
	tPending     = "5eed0000-0000-4000-8000-000000000001"
	tActive      = "5eed0000-0000-4000-8000-000000000002"
	tPaused      = "5eed0000-0000-4000-8000-000000000003"
	tSuspended   = "5eed0000-0000-4000-8000-000000000004"
	tRedisDel    = "5eed0000-0000-4000-8000-000000000005"
	tPgExpired   = "5eed0000-0000-4000-8000-000000000006"
	tNoRow       = "5eed0000-0000-4000-8000-000000000007"
	tMixed       = "5eed0000-0000-4000-8000-000000000008"
	tYoung       = "5eed0000-0000-4000-8000-000000000009"
	tPool        = "5eed0000-0000-4000-8000-00000000000a"
	tKept        = "5eed0000-0000-4000-8000-00000000000b"
	tOtherPrefix = "5eed0000-0000-4000-8000-00000000000c"
	tTerminating = "5eed0000-0000-4000-8000-00000000000d"
	tNotUUID     = "not-a-uuid-7"
)

// fleetTokens are every token of the fleet, for the masking test.
var fleetTokens = []string{tPending, tActive, tPaused, tSuspended, tRedisDel, tPgExpired, tNoRow, tMixed, tYoung, tPool, tKept, tOtherPrefix, tTerminating}

func seedFleet(ctx context.Context) error {
	old := time.Now().Add(-30 * 24 * time.Hour)
	rows := []testenv.Row{
		{Token: tPending, Status: "pending", ResourceType: "postgres", CreatedAt: old},
		{Token: tActive, Status: "active", ResourceType: "redis", CreatedAt: old},
		{Token: tPaused, Status: "paused", ResourceType: "postgres", CreatedAt: old},
		{Token: tSuspended, Status: "suspended", ResourceType: "redis", CreatedAt: old},
		{Token: tRedisDel, Status: "failed", ResourceType: "redis", CreatedAt: old},
		{Token: tRedisDel, Status: "deleted", ResourceType: "redis", CreatedAt: old.Add(time.Hour)},
		{Token: tPgExpired, Status: "expired", ResourceType: "postgres", CreatedAt: old},
		{Token: tMixed, Status: "paused", ResourceType: "redis", CreatedAt: old},
		{Token: tMixed, Status: "deleted", ResourceType: "redis", CreatedAt: old.Add(time.Hour)},
		{Token: tYoung, Status: "deleted", ResourceType: "redis", CreatedAt: old},
		{Token: tPool, Status: "deleted", ResourceType: "redis", CreatedAt: old},
		{Token: tKept, Status: "deleted", ResourceType: "redis", CreatedAt: old},
		{Token: tOtherPrefix, Status: "deleted", ResourceType: "redis", CreatedAt: old},
		{Token: tTerminating, Status: "failed", ResourceType: "redis", CreatedAt: old},
		// most rows of a real ledger belong to tokens without a namespace
		{Token: "5eed0000-0000-4000-8000-0000000000f1", Status: "active", ResourceType: "redis", CreatedAt: old},
		{Token: "5eed0000-0000-4000-8000-0000000000f2", Status: "reaped", ResourceType: "postgres", CreatedAt: old},
	}
	if err := testenv.InsertRows(ctx, ledgerDSN, rows); err != nil {
		return err
	}
	for _, n := range []struct {
		name   string
		labels map[string]string
	}{
		{prefix + tPending, nil}, {prefix + tActive, nil}, {prefix + tPaused, nil}, {prefix + tSuspended, nil},
		{prefix + tRedisDel, nil}, {prefix + tPgExpired, nil}, {prefix + tNoRow, nil}, {prefix + tMixed, nil},
		{prefix + "pool-" + tPool, nil}, {prefix + tKept, map[string]string{sweep.KeepLabel: "true"}},
		{"other-tenant-" + tOtherPrefix, nil}, {prefix + tNotUUID, nil}, {prefix + tTerminating, nil},
		{"kube-public-extra", nil},
	} {
		if _, err := createNamespace(ctx, n.name, n.labels); err != nil {
			return err
		}
	}
	// No controller-manager runs: a deleted namespace stays Terminating.
	if err := admin.CoreV1().Namespaces().Delete(ctx, prefix+tTerminating, metav1.DeleteOptions{}); err != nil {
		return err
	}
	time.Sleep(fleetGrace) // the fleet is now past grace
	return nil
}

type want struct {
	kind, rtype, reason, status, notReclaimable string
	reclaimable, terminating                    bool
}

func summarize(cs []api.Candidate) map[string]want {
	out := map[string]want{}
	for _, c := range cs {
		out[c.Namespace] = want{c.Kind, c.ResourceType, c.Reason, c.LastStatus, c.NotReclaimableReason, c.Reclaimable, c.Terminating}
	}
	return out
}

func TestFleetCandidates(t *testing.T) {
	ctx := context.Background()
	kc := exporterUser(t, "exporter-fleet")
	logBefore := exporterLogLines(t)

	r := start(t, testConfig(t, kc, destructiveEnv()))
	r.sweep()

	// A tenant created just now: in the cache, its row terminal, but within grace.
	young, err := createNamespace(ctx, prefix+tYoung, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Once past grace the young namespace would join the fleet's candidates;
	// keep it out of later tests.
	t.Cleanup(func() { keep(t, prefix+tYoung) })
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := testenv.WaitFor(waitCtx, func() (bool, error) {
		for _, n := range r.namespaces.List() {
			if n.Name == prefix+tYoung {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("the young namespace never reached the cache: %v", err)
	}
	r.sweep()

	var doc api.Candidates
	if code := r.getJSON(t, "/candidates", &doc); code != http.StatusOK {
		t.Fatalf("/candidates: %d", code)
	}
	// The cluster is named by its kube-system namespace, which the plugin
	// compares with its own context's.
	ks, err := admin.CoreV1().Namespaces().Get(context.Background(), ClusterNamespace, metav1.GetOptions{})
	if err != nil || doc.ClusterUID == "" || doc.ClusterUID != string(ks.UID) {
		t.Fatalf("cluster_uid %q, kube-system's UID %q (%v)", doc.ClusterUID, ks.UID, err)
	}
	if since := doc.GeneratedAt.Sub(young.CreationTimestamp.Time); since >= fleetGrace-time.Second {
		t.Fatalf("the sweep ran %v after the young namespace was created; it is no longer young (machine too slow for this test)", since)
	}
	wantSet := map[string]want{
		prefix + tRedisDel:    {api.KindRedis, "redis", api.ReasonTerminal, "deleted", "", true, false},
		prefix + tPgExpired:   {api.KindCustomer, "postgres", api.ReasonTerminal, "expired", api.NotReclaimableTypeNotAllowed, false, false},
		prefix + tNoRow:       {api.KindCustomer, "", api.ReasonNoRow, "", api.NotReclaimableNoProvenType, false, false},
		prefix + tNotUUID:     {api.KindCustomer, "", api.ReasonNoRow, "", api.NotReclaimableNoncanonicalToken, false, false},
		prefix + tTerminating: {api.KindRedis, "redis", api.ReasonTerminal, "failed", api.NotReclaimableTerminating, false, true},
	}
	if got := summarize(doc.Candidates); !reflect.DeepEqual(got, wantSet) {
		t.Fatalf("candidates:\n got %+v\nwant %+v", got, wantSet)
	}
	if !sort.SliceIsSorted(doc.Candidates, func(i, j int) bool { return doc.Candidates[i].Namespace < doc.Candidates[j].Namespace }) {
		t.Fatal("candidates are not sorted by namespace")
	}
	for _, c := range doc.Candidates {
		if c.ConsecutiveSweeps != 3 || c.Token != strings.TrimPrefix(c.Namespace, prefix) || strings.Contains(c.TokenMasked, c.Token) ||
			c.FirstSeenAt.IsZero() || c.NamespaceCreatedAt.IsZero() {
			t.Errorf("candidate fields: %+v", c)
		}
	}
	if !doc.Enabled || !doc.DestructiveEnabled || !doc.Sweep.OK || doc.Sweep.Error != "" ||
		doc.Policy.Prefix != prefix || doc.Policy.Confirmations != 3 || !reflect.DeepEqual(doc.Policy.ReclaimTypes, []string{"redis"}) ||
		doc.Policy.GraceSeconds != fleetGrace.Seconds() {
		t.Fatalf("document header: %+v", doc)
	}
	// in scope: 4 live, redis, pg, no-row, mixed, young, not-a-uuid, terminating
	if doc.Sweep.NamespacesInScope != 11 {
		t.Errorf("namespaces_in_scope = %d, want 11", doc.Sweep.NamespacesInScope)
	}

	ns := "instant_orphan_db_sweep_"
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{ns + "candidates_current", []string{"kind", api.KindRedis}, 2},
		{ns + "candidates_current", []string{"kind", api.KindCustomer}, 3},
		{ns + "candidates_reclaimable", []string{"kind", api.KindRedis}, 1},
		{ns + "candidates_reclaimable", []string{"kind", api.KindCustomer}, 0},
		// three sweeps saw them; each counts once
		{ns + "candidates_total", []string{"kind", api.KindRedis}, 2},
		{ns + "candidates_total", []string{"kind", api.KindCustomer}, 3},
		{ns + "candidates_resurrected_total", []string{"kind", api.KindRedis}, 0},
		{ns + "up", nil, 1},
		{ns + "enabled", nil, 1},
		{ns + "destructive_enabled", nil, 1},
		{ns + "namespaces_in_scope", nil, 11},
		{ns + "interval_seconds", nil, 3600},
		{ns + "errors_total", []string{"stage", StageLedger}, 0},
		{ns + "duration_seconds", nil, 3},
		{ns + "ledger_query_duration_seconds", nil, 3},
	} {
		if got := r.metric(t, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if age := r.metric(t, ns+"oldest_candidate_age_seconds", "kind", api.KindRedis); age < fleetGrace.Seconds() {
		t.Errorf("oldest redis candidate age %v, want at least the grace", age)
	}
	if last := r.metric(t, ns+"last_success_timestamp_seconds"); time.Since(time.Unix(int64(last), 0)) > time.Minute {
		t.Errorf("last success %v", last)
	}

	// The enabled exporter did talk to both: the counters the disabled test
	// relies on can move.
	if n, err := cp.RequestsBy("exporter-fleet"); err != nil || n == 0 {
		t.Fatalf("requests by exporter-fleet: %d, %v", n, err)
	}
	if after := exporterLogLines(t); after <= logBefore {
		t.Fatalf("ledger statements by the exporter: %d before, %d after", logBefore, after)
	}
}

func TestDestructiveOffNeverReclaimable(t *testing.T) {
	r := start(t, testConfig(t, exporterUser(t, "exporter-audit"), enabledEnv(), "--sweep.confirmations=1"))
	r.sweep() // on the contents read after the first
	var doc api.Candidates
	r.getJSON(t, "/candidates", &doc)
	if doc.DestructiveEnabled || !doc.Enabled {
		t.Fatalf("flags in document: enabled=%v destructive=%v", doc.Enabled, doc.DestructiveEnabled)
	}
	got := summarize(doc.Candidates)[prefix+tRedisDel]
	if got.reclaimable || got.notReclaimable != api.NotReclaimableDestructiveDisabled {
		t.Fatalf("redis candidate with destructive off: %+v", got)
	}
	for _, c := range doc.Candidates {
		if c.Reclaimable {
			t.Fatalf("%s reclaimable with destructive off", c.Namespace)
		}
	}
	if v := r.metric(t, "instant_orphan_db_sweep_destructive_enabled"); v != 0 {
		t.Fatalf("destructive_enabled = %v", v)
	}
}

func TestDisabledTouchesNothing(t *testing.T) {
	const user = "exporter-disabled"
	kc := exporterUser(t, user)
	statementsBefore := exporterLogLines(t)
	// The destructive flag alone means nothing.
	r := start(t, testConfig(t, kc, map[string]string{EnvEnabled: "TRUE", EnvDestructive: "true"}))

	var doc api.Candidates
	if code := r.getJSON(t, "/candidates", &doc); code != http.StatusOK || doc.Enabled || doc.DestructiveEnabled || len(doc.Candidates) != 0 {
		t.Fatalf("/candidates: %d %+v", code, doc)
	}
	var e api.Error
	if code := r.getJSON(t, "/candidates/"+prefix+tRedisDel, &e); code != http.StatusServiceUnavailable || e.Enabled == nil || *e.Enabled {
		t.Fatalf("/candidates/{ns}: %d %+v", code, e)
	}
	r.sweep() // even a direct call does nothing
	for _, k := range api.Kinds {
		for _, name := range []string{"candidates_current", "candidates_reclaimable", "candidates_total", "oldest_candidate_age_seconds"} {
			if v := r.metric(t, "instant_orphan_db_sweep_"+name, "kind", k); v != 0 {
				t.Errorf("%s{kind=%s} = %v", name, k, v)
			}
		}
	}
	for _, name := range []string{"enabled", "destructive_enabled", "up"} {
		if v := r.metric(t, "instant_orphan_db_sweep_"+name); v != 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	if !strings.Contains(r.logs.String(), `is not exactly \"true\"`) {
		t.Errorf("no warning for ORPHAN_DB_SWEEP_ENABLED=TRUE in:\n%s", r.logs.String())
	}
	time.Sleep(time.Second)

	if n, err := cp.RequestsBy(user); err != nil || n != 0 {
		t.Fatalf("disabled exporter made %d Kubernetes requests (err %v)", n, err)
	}
	if after := exporterLogLines(t); after != statementsBefore {
		t.Fatalf("disabled exporter touched the ledger: %d log lines before, %d after", statementsBefore, after)
	}
}

func TestSteadyStateSweepsMakeNoRequests(t *testing.T) {
	const user = "exporter-steady"
	r := start(t, testConfig(t, exporterUser(t, user), enabledEnv()))
	// The candidates' contents are read once; then the state is steady.
	r.sweep()
	before, err := cp.RequestsBy(user)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r.sweep()
	}
	after, err := cp.RequestsBy(user)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("5 sweeps made %d API requests, want 0", after-before)
	}
	if r.metric(t, "instant_orphan_db_sweep_up") != 1 {
		t.Fatal("sweeps failed")
	}
}

// exporterLogLines counts the ledger server's log lines of exporter sessions.
// The test server logs every connection and statement with the application
// name, so the count moves whenever an exporter touches the database.
func exporterLogLines(t *testing.T) int {
	t.Helper()
	return strings.Count(pg.Log(), "app=orphans-exporter")
}

func keep(t *testing.T, name string) {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, sweep.KeepLabel)
	if _, err := admin.CoreV1().Namespaces().Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Errorf("keep %s: %v", name, err)
	}
}
