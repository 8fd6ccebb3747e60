//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/testenv"
)

// listBed is a scope with one candidate of each shape and a live tenant,
// and an exporter with both safety flags on.
type listBed struct {
	*scope
	e                  *exporter
	noRow, redis, pg   string
	live               string
	tokens             []string
	noRowTok, redisTok string
}

func newListBed(t *testing.T) *listBed {
	s := newScope(t)
	b := &listBed{scope: s}
	var pgTok, liveTok string
	b.noRow, b.noRowTok = s.tenant()
	b.redis, b.redisTok = s.tenant()
	b.pg, pgTok = s.tenant()
	b.live, liveTok = s.tenant()
	s.rows(
		testenv.Row{Token: b.redisTok, Status: "deleted", ResourceType: "redis"},
		testenv.Row{Token: pgTok, Status: "failed", ResourceType: "postgres"},
		testenv.Row{Token: liveTok, Status: "active", ResourceType: "redis"},
	)
	b.tokens = []string{b.noRowTok, b.redisTok, pgTok, liveTok}
	// What a reclaim of the redis candidate would destroy: a pod (Pending:
	// no kubelet runs here) and a 3Gi claim.
	ctx := context.Background()
	core := bed.admin.CoreV1()
	if _, err := core.PersistentVolumeClaims(b.redis).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Pods(b.redis).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-0"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b.e = s.startExporter(exporterOptions{enabled: true, destructive: true})
	b.e.waitCandidates(t, "three candidates, the redis one reclaimable", func(code int, doc api.Candidates) bool {
		return code == http.StatusOK && len(doc.Candidates) == 3 && byNamespace(doc)[b.redis].Reclaimable
	})
	return b
}

func TestListEveryFormat(t *testing.T) {
	b := newListBed(t)
	url := "--exporter-url=" + b.e.URL
	want := []string{b.noRow, b.redis, b.pg}
	sort.Strings(want)

	// Default table: masked tokens, the DESIGN.md columns, one row per candidate.
	r := orphans(t, operator, nil, "list", url)
	if r.code != 0 {
		t.Fatal(r)
	}
	mustNotContain(t, "the table", []string{r.stdout, r.stderr}, b.tokens...)
	rows := lines(r.stdout)
	if len(rows) != 4 || strings.Join(strings.Fields(rows[0]), " ") != "NAMESPACE TOKEN KIND TYPE REASON AGE SEEN RECLAIMABLE" {
		t.Fatalf("table:\n%s", r)
	}
	for i, ns := range want {
		masked := logsafe.Namespace{Name: ns, Prefix: prefix}.String()
		if !strings.HasPrefix(rows[i+1], masked) {
			t.Fatalf("row %d is not %s:\n%s", i+1, masked, r)
		}
	}
	row := func(out, ns string) string {
		for _, l := range lines(out) {
			if strings.HasPrefix(l, logsafe.Namespace{Name: ns, Prefix: prefix}.String()) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no row for %s:\n%s", ns, out)
		return ""
	}
	if got := row(r.stdout, b.redis); !strings.Contains(got, "redis_namespace redis terminal") || !strings.HasSuffix(got, "yes") {
		t.Fatalf("redis row %q", got)
	}
	if got := row(r.stdout, b.noRow); !strings.Contains(got, "customer_namespace <none> no_row") || !strings.HasSuffix(got, "no") {
		t.Fatalf("no_row row %q", got)
	}

	// Wide adds the evidence and why a candidate is not reclaimable.
	r = orphans(t, operator, nil, "list", url, "-o", "wide")
	if r.code != 0 || !strings.Contains(r.stdout, "WHY-NOT") {
		t.Fatal(r)
	}
	mustNotContain(t, "the wide table", []string{r.stdout, r.stderr}, b.tokens...)
	if got := row(r.stdout, b.redis); !strings.Contains(got, " 0/1 1 3Gi ") {
		t.Fatalf("wide redis row without its pod and claim %q", got)
	}
	if got := row(r.stdout, b.pg); !strings.Contains(got, "failed") || !strings.HasSuffix(got, api.NotReclaimableTypeNotAllowed) {
		t.Fatalf("wide postgres row %q", got)
	}
	if got := row(r.stdout, b.noRow); !strings.HasSuffix(got, api.NotReclaimableNoProvenType) {
		t.Fatalf("wide no_row row %q", got)
	}

	// JSON and YAML carry the full values.
	for _, format := range []string{"json", "yaml"} {
		r = orphans(t, operator, nil, "list", url, "-o", format)
		if r.code != 0 {
			t.Fatal(r)
		}
		var doc api.Candidates
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(r.stdout), &doc)
		} else {
			err = yaml.Unmarshal([]byte(r.stdout), &doc)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, r)
		}
		var got []string
		for _, c := range doc.Candidates {
			got = append(got, c.Namespace)
			if c.Namespace != prefix+c.Token {
				t.Fatalf("%s: token %q is not the namespace's", format, c.Token)
			}
		}
		if !slices.Equal(got, want) || !doc.Enabled || !doc.DestructiveEnabled || !doc.Sweep.OK {
			t.Fatalf("%s document: %+v", format, doc)
		}
		if c := byNamespace(doc)[b.redis]; c.Token != b.redisTok || c.LastStatus != "deleted" || c.Kind != api.KindRedis || !c.Reclaimable {
			t.Fatalf("%s redis candidate %+v", format, c)
		}
	}

	// -o name: one namespace/<name> per line, for scripts.
	r = orphans(t, operator, nil, "list", url, "-o", "name")
	var names []string
	for _, ns := range want {
		names = append(names, "namespace/"+ns)
	}
	if r.code != 0 || !slices.Equal(lines(r.stdout), names) {
		t.Fatalf("name:\n%s", r)
	}

	// Filters.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--kind", api.KindRedis}, []string{b.redis}},
		{[]string{"--reclaimable"}, []string{b.redis}},
		{[]string{"--kind", api.KindCustomer}, without(want, b.redis)},
		{[]string{"--older-than", "0s"}, want},
	} {
		r = orphans(t, operator, nil, append([]string{"list", url, "-o", "name"}, tc.args...)...)
		var exp []string
		for _, ns := range tc.want {
			exp = append(exp, "namespace/"+ns)
		}
		if r.code != 0 || !slices.Equal(lines(r.stdout), exp) {
			t.Fatalf("%v:\n%s", tc.args, r)
		}
	}
	r = orphans(t, operator, nil, "list", url, "--older-than", "1h")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "None of the 3 candidates matches the filters") {
		t.Fatalf("--older-than 1h:\n%s", r)
	}

	// Bad input is a clear error.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "xml"}, `unsupported output format "xml"`},
		{[]string{"--kind", "redis"}, `--kind "redis"`},
		{[]string{"--older-than", "a while"}, "--older-than"},
		{[]string{"--exporter-url", "localhost:9866"}, "--exporter-url"},
	} {
		r = orphans(t, operator, nil, append([]string{"list", url}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Fatalf("%v:\n%s", tc.args, r)
		}
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func TestListWhenTheSweepIsDisabled(t *testing.T) {
	s := newScope(t)
	ns, tok := s.tenant()
	e := s.startExporter(exporterOptions{})
	e.waitCandidates(t, "a disabled document", func(code int, doc api.Candidates) bool { return code == http.StatusOK && !doc.Enabled })
	for _, format := range []string{"", "wide", "name"} {
		r := orphans(t, operator, nil, "list", "--exporter-url="+e.URL, "--output="+format)
		if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "sweep is disabled") ||
			strings.Contains(strings.ToLower(r.stderr), "no orphan candidates") {
			t.Fatalf("-o %q:\n%s", format, r)
		}
	}
	r := orphans(t, operator, nil, "list", "--exporter-url="+e.URL, "-o", "json")
	var doc api.Candidates
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.Enabled || !strings.Contains(r.stderr, "sweep is disabled") {
		t.Fatalf("json:\n%s", r)
	}
	mustNotContain(t, "output", []string{r.stdout, r.stderr}, ns, tok)
}

func TestListWhenTheSweepFailed(t *testing.T) {
	s := newScope(t)
	_, tok := s.tenant()
	e := s.startExporter(exporterOptions{enabled: true})
	e.waitCandidates(t, "one candidate", func(code int, doc api.Candidates) bool { return code == http.StatusOK && len(doc.Candidates) == 1 })
	// The ledger breaks under the running exporter.
	if err := testenv.Exec(context.Background(), s.dsn, "ALTER TABLE resources RENAME TO resources_moved"); err != nil {
		t.Fatal(err)
	}
	e.waitCandidates(t, "a failed sweep", func(code int, _ api.Candidates) bool { return code == http.StatusServiceUnavailable })
	for _, format := range []string{"", "wide", "json", "yaml", "name"} {
		r := orphans(t, operator, nil, "list", "--exporter-url="+e.URL, "--output="+format)
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "no valid sweep") ||
			strings.Contains(strings.ToLower(r.stderr), "no orphan candidates") {
			t.Fatalf("-o %q:\n%s", format, r)
		}
		mustNotContain(t, "output", []string{r.stderr}, tok)
	}
}

func TestVersionIsStamped(t *testing.T) {
	r := kubectl(t, "", nil, "orphans", "version")
	if r.code != 0 || !strings.Contains(r.stdout, "kubectl-orphans, version "+testVersion) {
		t.Fatal(r)
	}
}

func TestHelpAndUsageReadKubectlOrphans(t *testing.T) {
	r := kubectl(t, "", nil, "orphans", "reclaim", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "kubectl orphans reclaim (NAMESPACE... | --all)") || !strings.Contains(r.stdout, "--kubeconfig") {
		t.Fatal(r)
	}
	r = kubectl(t, "", nil, "orphans", "list", "--no-such-flag")
	if r.code == 0 || !strings.Contains(r.stderr, "unknown flag: --no-such-flag") {
		t.Fatal(r)
	}
	// cobra's own completion command is off; completion goes through the shim.
	r = kubectl(t, "", nil, "orphans", "completion", "bash")
	if r.code == 0 {
		t.Fatal(r)
	}
}

func TestShellCompletionThroughKubectl(t *testing.T) {
	b := newListBed(t)
	// kubectl runs kubectl_complete-orphans from PATH for plugin arguments.
	r := kubectl(t, "", nil, "__complete", "orphans", "reclaim", "--exporter-url="+b.e.URL, "--kubeconfig="+bed.kubeconfig[operator], "")
	if r.code != 0 {
		t.Fatal(r)
	}
	got := lines(r.stdout)
	if len(got) != 4 || got[3] != ":4" {
		t.Fatalf("want three candidates and the no-file directive:\n%s", r)
	}
	// Reclaimable first.
	if !strings.HasPrefix(got[0], b.redis+"\t") {
		t.Fatalf("first completion %q, want %s", got[0], b.redis)
	}
	for _, ns := range []string{b.noRow, b.pg} {
		if !strings.Contains(r.stdout, ns+"\t") {
			t.Fatalf("%s not completed:\n%s", ns, r)
		}
	}
	if strings.Contains(r.stdout, b.live) {
		t.Fatalf("a live namespace was completed:\n%s", r)
	}
	// Namespaces already on the line are not offered again.
	r = kubectl(t, "", nil, "__complete", "orphans", "reclaim", "--exporter-url="+b.e.URL, b.redis, "")
	if strings.Contains(r.stdout, b.redis+"\t") || len(lines(r.stdout)) != 3 {
		t.Fatalf("after %s:\n%s", b.redis, r)
	}
}
