package exporter

import (
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/sweep"
)

// Every guard set weaker than its default is named, with its value and
// default; at the defaults, and when a guard is made stricter, none is.
func TestWeakenedGuards(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want []string
	}{
		{nil, nil, nil},
		// stricter than the defaults
		{[]string{"--sweep.grace=2h", "--sweep.confirmations=5", "--sweep.max-candidate-fraction=0.2", "--sweep.guard-min-namespaces=5",
			"--reclaim.min-evidence-age=48h", "--reclaim.quiet-period=72h", "--ledger.max-replica-lag=1s", "--ledger.max-receiver-silence=10s",
			"--ledger.terminal-statuses=deleted"}, nil, nil},
		{[]string{"--reclaim.min-evidence-age=0s", "--reclaim.quiet-period=0s", "--sweep.confirmations=1", "--sweep.grace=0s", "--sweep.max-candidate-fraction=1"}, nil,
			[]string{"sweep.grace", "sweep.confirmations", "sweep.max-candidate-fraction", "reclaim.min-evidence-age", "reclaim.quiet-period"}},
		{[]string{"--sweep.guard-min-namespaces=1000", "--ledger.max-replica-lag=1h", "--ledger.max-receiver-silence=2m"}, nil,
			[]string{"sweep.guard-min-namespaces", "ledger.max-replica-lag", "ledger.max-receiver-silence"}},
		{[]string{"--contents.ignore-managers=kubectl,helm"}, nil, []string{"contents.ignore-managers"}},
		{[]string{"--ledger.allow-insecure-transport"}, nil, []string{"ledger.allow-insecure-transport"}},
		// a status live by default, listed as terminal under a shorter live list
		{[]string{"--ledger.live-statuses=active,pending", "--ledger.terminal-statuses=deleted,paused"}, nil, []string{"ledger.terminal-statuses"}},
	} {
		o, err := parse(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := o.Validate(envOf(tc.env...))
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var got []string
		for _, w := range c.Weakened {
			got = append(got, w.Guard)
			if !slices.Contains(GuardNames(), w.Guard) || w.Default == "" && w.Guard != "contents.ignore-managers" || w.Value == w.Default {
				t.Errorf("%v: %+v", tc.args, w)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: weakened %v, want %v", tc.args, got, tc.want)
		}
	}
}

// A weakened guard is a config.warning line naming the flag, its value and
// its default, a 1 in guard_weakened (every guard present, 0 otherwise), and
// an entry in /candidates' policy.weakened.
func TestWeakenedGuardsAreVisible(t *testing.T) {
	e, _, _ := seamExporter(t, bothOn, "--sweep.grace=0s")
	want := []string{"sweep.grace", "sweep.confirmations", "reclaim.min-evidence-age", "reclaim.quiet-period"}
	var doc api.Candidates
	sweepOnce(e)
	if code := serve(t, e, "/candidates", &doc); code != 200 || !reflect.DeepEqual(doc.Policy.Weakened, want) {
		t.Fatalf("policy.weakened %v (%d), want %v", doc.Policy.Weakened, code, want)
	}
	var exp strings.Builder
	exp.WriteString("# HELP instant_orphan_db_sweep_guard_weakened 1 when the safety guard (a flag, named without dashes) is set weaker than its default; 0 otherwise.\n")
	exp.WriteString("# TYPE instant_orphan_db_sweep_guard_weakened gauge\n")
	names := GuardNames()
	slices.Sort(names)
	for _, g := range names {
		v := "0"
		if slices.Contains(want, g) {
			v = "1"
		}
		exp.WriteString(`instant_orphan_db_sweep_guard_weakened{guard="` + g + `"} ` + v + "\n")
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(exp.String()), "instant_orphan_db_sweep_guard_weakened"); err != nil {
		t.Fatal(err)
	}
	if len(names) != 11 {
		t.Fatalf("%d guards: %v", len(names), names)
	}
}

// A keep label that is neither "true" nor "false" keeps its namespace out of
// scope and is logged once while it stays so, again when it comes back.
func TestUnclearKeepLabelLoggedOnce(t *testing.T) {
	e, cluster, _ := seamExporter(t, bothOn)
	var logs strings.Builder
	e.sweeper.log = slog.New(slog.NewJSONHandler(&logs, nil))
	cluster.mu.Lock()
	cluster.nss[0].Labels = map[string]string{sweep.KeepLabel: "True"}
	cluster.mu.Unlock()
	sweepOnce(e)
	sweepOnce(e)
	var doc api.Candidates
	serve(t, e, "/candidates", &doc)
	for _, c := range doc.Candidates {
		if c.Namespace == nsR {
			t.Fatalf("%s is labelled keep=True and still a candidate", nsR)
		}
	}
	if n := strings.Count(logs.String(), "namespace.keep_label_unclear"); n != 1 {
		t.Fatalf("%d warnings over two sweeps, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), tokR) {
		t.Fatalf("the warning shows the token:\n%s", logs.String())
	}
	cluster.mu.Lock()
	cluster.nss[0].Labels = map[string]string{sweep.KeepLabel: "false"}
	cluster.mu.Unlock()
	sweepOnce(e)
	cluster.mu.Lock()
	cluster.nss[0].Labels = map[string]string{sweep.KeepLabel: "yes"}
	cluster.mu.Unlock()
	sweepOnce(e)
	if n := strings.Count(logs.String(), "namespace.keep_label_unclear"); n != 2 {
		t.Fatalf("%d warnings, want a second one when the label turned unclear again:\n%s", n, logs.String())
	}
}
