package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
)

const (
	tokA = "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f8a9b0c"
	tokB = "0b6f1c3e-1111-4a4a-8a8a-000000000001"
	tokC = "77aa0000-2222-4b4b-9c9c-000000000002"
)

func candidate(tok, kind, typ string, reclaimable bool, age time.Duration) api.Candidate {
	now := time.Now().UTC().Truncate(time.Second)
	c := api.Candidate{
		Namespace: "instant-customer-" + tok, Token: tok, TokenMasked: tok[:8] + "*** (len=36)",
		NamespaceUID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(tok)).String(), EvidenceDigest: digestOf(tok),
		Kind: kind, ResourceType: typ, Reason: api.ReasonTerminal, LastStatus: "deleted",
		NamespaceCreatedAt: now.Add(-age), FirstSeenAt: now.Add(-time.Hour), EvidenceSince: now.Add(-age), ConsecutiveSweeps: 4,
		Reclaimable: reclaimable,
		Contents: &api.Contents{ReadAt: now.Add(-time.Minute), Pods: 3, PodsRunning: 2, PVCs: 1,
			StorageRequestedBytes: 10 << 30, LastChangeAt: now.Add(-age)},
	}
	if typ == "" {
		c.Reason, c.LastStatus = api.ReasonNoRow, ""
	}
	if !reclaimable {
		c.NotReclaimableReason = api.NotReclaimableDestructiveDisabled
	}
	return c
}

// digestOf stands in for an evidence digest: 64 hex digits that depend on s.
func digestOf(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// testClusterUID is the kube-system UID of the fake cluster, which the
// stub exporter reports as the cluster it watches.
const testClusterUID = "11111111-2222-4333-8444-555555555555"

func document() api.Candidates {
	return api.Candidates{
		GeneratedAt: time.Now().UTC(), ClusterUID: testClusterUID, Enabled: true, DestructiveEnabled: true,
		Sweep:  api.Sweep{OK: true, NamespacesInScope: 40},
		Policy: api.Policy{Prefix: "instant-customer-", GraceSeconds: 3600, Confirmations: 3, ReclaimTypes: []string{"redis"}},
		Candidates: []api.Candidate{
			candidate(tokB, api.KindRedis, "redis", true, 72*time.Hour),
			candidate(tokC, api.KindCustomer, "", false, 3*time.Hour),
			candidate(tokA, api.KindRedis, "redis", false, 10*24*time.Hour),
		},
	}
}

// fakeExporter serves /candidates for unit tests of the plugin's own logic;
// the end-to-end tests run the real exporter.
func fakeExporter(t *testing.T, status int, body any) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/candidates" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := NewCmdOrphans(streams)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestListTableMasksTokens(t *testing.T) {
	s := fakeExporter(t, 200, document())
	out, errOut, err := run(t, "list", "--exporter-url", s.URL)
	if err != nil {
		t.Fatal(err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header + 3 rows:\n%s", out)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "NAMESPACE TOKEN KIND TYPE REASON AGE SEEN RECLAIMABLE" {
		t.Fatalf("header %q", lines[0])
	}
	for _, tok := range []string{tokA, tokB, tokC} {
		if strings.Contains(out, tok) {
			t.Fatalf("table shows a whole token:\n%s", out)
		}
	}
	if !strings.Contains(out, "instant-customer-0b6f1c3e*** (len=36)") || !strings.Contains(out, "3d") || !strings.Contains(out, "yes") {
		t.Fatalf("table:\n%s", out)
	}
	if strings.Contains(out, "LAST-STATUS") {
		t.Fatal("wide columns in the default table")
	}
}

// -o wide shows what a reclaim would destroy: pods, PVCs, storage and the
// last change, <unknown> before the exporter read them, <error> after a
// failed read.
func TestListWideShowsContents(t *testing.T) {
	doc := document()
	doc.Candidates[1].Contents = nil
	doc.Candidates[2].Contents = &api.Contents{ReadAt: time.Now(), Error: "pods is forbidden"}
	s := fakeExporter(t, 200, doc)
	out, _, err := run(t, "list", "--exporter-url", s.URL, "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := "NAMESPACE TOKEN KIND TYPE REASON AGE SEEN RECLAIMABLE LAST-STATUS FIRST-SEEN TERMINATING PODS PVCS STORAGE LAST-CHANGE WHY-NOT"
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != want {
		t.Fatalf("wide header, want %q:\n%s", want, out)
	}
	for i, cells := range map[int]string{
		0: "2/3 1 10Gi 3d <none>",
		1: "<unknown> <unknown> <unknown> <unknown> destructive_disabled",
		2: "<error> <error> <error> <error> destructive_disabled",
	} {
		row := strings.Join(strings.Fields(lines[i+1]), " ")
		if !strings.Contains(row, doc.Candidates[i].TokenMasked) || !strings.HasSuffix(row, cells) {
			t.Errorf("row of candidate %d %q, want it to end in %q", i, row, cells)
		}
	}
}

func TestBytesIEC(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1023: "1023", 1024: "1Ki", 1536: "1.5Ki", 10 << 30: "10Gi", 1_000_000_000: "953.7Mi", 3 << 40: "3Ti",
	} {
		if got := bytesIEC(n); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestListFormats(t *testing.T) {
	s := fakeExporter(t, 200, document())
	wide, _, err := run(t, "list", "--exporter-url", s.URL, "-o", "wide")
	if err != nil || !strings.Contains(wide, "WHY-NOT") || !strings.Contains(wide, "destructive_disabled") || strings.Contains(wide, tokA) {
		t.Fatalf("wide (%v):\n%s", err, wide)
	}
	js, _, err := run(t, "list", "--exporter-url", s.URL, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc api.Candidates
	if err := json.Unmarshal([]byte(js), &doc); err != nil || len(doc.Candidates) != 3 || doc.Candidates[2].Token != tokA {
		t.Fatalf("json (%v):\n%s", err, js)
	}
	ym, _, err := run(t, "list", "--exporter-url", s.URL, "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ydoc api.Candidates
	if err := yaml.Unmarshal([]byte(ym), &ydoc); err != nil || len(ydoc.Candidates) != 3 || ydoc.Candidates[0].Namespace != "instant-customer-"+tokB {
		t.Fatalf("yaml (%v):\n%s", err, ym)
	}
	names, _, err := run(t, "list", "--exporter-url", s.URL, "-o", "name", "--reclaimable")
	if err != nil || names != "namespace/instant-customer-"+tokB+"\n" {
		t.Fatalf("name (%v): %q", err, names)
	}
	if _, _, err := run(t, "list", "--exporter-url", s.URL, "-o", "xml"); err == nil || !strings.Contains(err.Error(), `unsupported output format "xml"`) {
		t.Fatalf("-o xml: %v", err)
	}
}

func TestListFilters(t *testing.T) {
	s := fakeExporter(t, 200, document())
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--kind", api.KindRedis}, []string{tokB, tokA}},
		{[]string{"--kind", api.KindCustomer}, []string{tokC}},
		{[]string{"--reclaimable"}, []string{tokB}},
		{[]string{"--older-than", "7d"}, []string{tokA}},
		{[]string{"--older-than", "48h", "--kind", api.KindRedis}, []string{tokB, tokA}},
		{[]string{"--older-than", "90m"}, []string{tokB, tokC, tokA}},
	} {
		out, _, err := run(t, append([]string{"list", "--exporter-url", s.URL, "-o", "name"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var want string
		for _, tok := range tc.want {
			want += "namespace/instant-customer-" + tok + "\n"
		}
		if out != want {
			t.Errorf("%v:\n got %q\nwant %q", tc.args, out, want)
		}
	}
	_, errOut, err := run(t, "list", "--exporter-url", s.URL, "--older-than", "30d")
	if err != nil || !strings.Contains(errOut, "None of the 3 candidates matches the filters") {
		t.Fatalf("no match: %v %q", err, errOut)
	}
	for _, bad := range [][]string{{"--older-than", "week"}, {"--older-than", "-1h"}, {"--kind", "redis"}, {"extra-arg"}} {
		if _, _, err := run(t, append([]string{"list", "--exporter-url", s.URL}, bad...)...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestListDisabledFailedAndEmpty(t *testing.T) {
	off := document()
	off.Enabled, off.DestructiveEnabled, off.Candidates = false, false, []api.Candidate{}
	s := fakeExporter(t, 200, off)
	for _, format := range []string{"", "wide", "name"} {
		out, errOut, err := run(t, "list", "--exporter-url", s.URL, "-o", format)
		if err != nil || out != "" || !strings.Contains(errOut, "sweep is disabled") || strings.Contains(strings.ToLower(errOut), "no orphan candidates") {
			t.Fatalf("disabled -o %q: err %v out %q err %q", format, err, out, errOut)
		}
	}
	js, errOut, err := run(t, "list", "--exporter-url", s.URL, "-o", "json")
	if err != nil || !strings.Contains(js, `"enabled": false`) || !strings.Contains(errOut, "sweep is disabled") {
		t.Fatalf("disabled json: %v %q %q", err, js, errOut)
	}

	failed := fakeExporter(t, 503, api.Error{Error: "ledger: connection refused"})
	for _, format := range []string{"", "json", "name"} {
		out, _, err := run(t, "list", "--exporter-url", failed.URL, "-o", format)
		if !errors.Is(err, exporterclient.ErrSweepFailed) || out != "" || !strings.Contains(err.Error(), "ledger: connection refused") {
			t.Fatalf("failed -o %q: err %v out %q", format, err, out)
		}
	}

	empty := document()
	empty.Candidates = []api.Candidate{}
	e := fakeExporter(t, 200, empty)
	out, errOut, err := run(t, "list", "--exporter-url", e.URL)
	if err != nil || out != "" || !strings.Contains(errOut, "No orphan candidates") || !strings.Contains(errOut, "40 namespaces in scope") {
		t.Fatalf("empty: %v %q %q", err, out, errOut)
	}
}

func TestExporterFlagValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--exporter-url", "ftp://x"},
		{"--exporter-url", "http://user:pw@x"},
		{"--exporter-url", "http://x", "--exporter-ca-file", "/ca.pem"},
		{"--exporter-url", "https://x", "--exporter-cert-file", "/c.pem"},
		{"--exporter-url", "https://x", "--exporter-tls"},
		{"--exporter-url", "http://x", "--exporter-password-file", "/pw"},
		{"--exporter-ca-file", "/ca.pem"},
		{"--exporter-port", "9866"},
		{"--exporter-namespace", "Not_A_Namespace"},
		{"--exporter-timeout", "0s"},
	} {
		_, _, err := run(t, append([]string{"list"}, args...)...)
		if err == nil {
			t.Errorf("%v accepted", args)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("%v: error shows user information: %v", args, err)
		}
	}
}

func TestProxyServiceName(t *testing.T) {
	f := NewExporterFlags()
	if got := f.ProxyServiceName(); got != "http:orphans-exporter:api" {
		t.Fatal(got)
	}
	f.TLS = true
	if got := f.ProxyServiceName(); got != "https:orphans-exporter:api" {
		t.Fatal(got)
	}
}

func TestHelpReadsKubectlOrphans(t *testing.T) {
	out, _, err := run(t, "list", "--help")
	if err != nil || !strings.Contains(out, "kubectl orphans list [flags]") || !strings.Contains(out, "--kubeconfig") {
		t.Fatalf("%v:\n%s", err, out)
	}
	if _, _, err := run(t, "completion", "bash"); err == nil {
		t.Fatal("cobra's completion command is enabled")
	}
}

// The exporter's answers carry every tenant token, and a request to it may
// carry a password: list, ghosts and plan show refuse, before any request,
// a first hop anybody on the path could read or impersonate.
func TestReadersRefuseAnInsecureFirstHop(t *testing.T) {
	const password = "exporter-pw-7c1d"
	t.Setenv(EnvExporterPassword, password)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := newExporterStub(t, document())
	for _, command := range [][]string{{"list"}, {"ghosts"}, {"plan", "show", planFile}} {
		insecure := newFakeCluster(t, true)
		insecure.exporter = exp
		verified := newFakeCluster(t, false)
		verified.exporter = exp
		for name, tc := range map[string]struct {
			args []string
			want string
		}{
			"plain http":                 {[]string{"--exporter-url", "http://192.0.2.10:9866"}, "plain http"},
			"basic auth over plain http": {[]string{"--exporter-url", "http://192.0.2.10:9866", "--exporter-username", "op"}, "plain http"},
			"unverified API server":      {[]string{"--kubeconfig", insecure.kubeconfig}, "insecure-skip-tls-verify"},
			"--insecure-skip-tls-verify": {[]string{"--kubeconfig", verified.kubeconfig, "--insecure-skip-tls-verify"}, "insecure-skip-tls-verify"},
		} {
			out, errOut, err := run(t, append(slices.Clone(command), tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), "refusing to read the exporter") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, %s: err %v", command, name, err)
				continue
			}
			if out != "" || strings.Contains(errOut+err.Error(), password) {
				t.Errorf("%v, %s: printed %q %q", command, name, out, errOut)
			}
		}
		if insecure.proxied()+verified.proxied() > 0 || exp.freshChecks(nsOf(1)) > 0 {
			t.Errorf("%v: a request reached the exporter", command)
		}
	}
	// Over a verified API server, or plain http to loopback, list reads.
	verified := newFakeCluster(t, false)
	verified.exporter = exp
	if out, errOut, err := run(t, "list", "-o", "name", "--kubeconfig", verified.kubeconfig); err != nil || !strings.Contains(out, "namespace/") {
		t.Fatalf("list through a verified API server: %v\n%s", err, errOut)
	}
	if out, errOut, err := run(t, "list", "-o", "name", "--exporter-url", exp.URL); err != nil || !strings.Contains(out, "namespace/") {
		t.Fatalf("list over loopback: %v\n%s", err, errOut)
	}
}
