package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
)

const testSecret = "unit-test-bearer-9a8b7c"

// Every refusal below happens in Validate or at the exporter check, before
// any deprovision request: the stand-in must see nothing.
func TestReclaimRefusesBeforeAnyRequest(t *testing.T) {
	dp := deprovisiontest.New(t, testSecret, testActor)
	exp := fakeExporter(t, 200, document())
	noDestructive := document()
	noDestructive.DestructiveEnabled = false
	expOff := fakeExporter(t, 200, noDestructive)
	disabled := document()
	disabled.Enabled = false
	expDisabled := fakeExporter(t, 200, disabled)
	failed := fakeExporter(t, 503, map[string]string{"error": "kubernetes: list namespaces: timeout"})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := "instant-customer-" + tokB
	kc := "--kubeconfig=" + newFakeCluster(t, false).kubeconfig
	base := func(exporterURL string) []string {
		return []string{"reclaim", ns, "--exporter-url", exporterURL, "--deprovision-url", dp.URL,
			"--deprovision-token-file", tokenFile, "--reason", "OPS-1", "--yes", kc}
	}
	t.Setenv(EnvDeprovisionURL, "")
	t.Setenv(EnvDeprovisionToken, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no reason", []string{"reclaim", ns, "--exporter-url", exp.URL, "--deprovision-url", dp.URL, "--deprovision-token-file", tokenFile, "--yes", kc}, "--reason is required"},
		{"blank reason", append(base(exp.URL), "--reason", "   "), "--reason is required"},
		{"no target", []string{"reclaim", "--exporter-url", exp.URL, "--deprovision-url", dp.URL, "--deprovision-token-file", tokenFile, "--reason", "x", "--yes", kc}, "or --all"},
		{"targets and --all", append(base(exp.URL), "--all"), "not both"},
		{"bad namespace", append(base(exp.URL), "Bad_Name"), "is not a namespace name"},
		{"bad dry-run", append(base(exp.URL), "--dry-run", "maybe"), `--dry-run "maybe"`},
		{"bad output", append(base(exp.URL), "-o", "wide"), "unsupported output format"},
		{"max zero", append(base(exp.URL), "--max", "0"), "--max must be at least 1"},
		{"over max", append(base(exp.URL), "instant-customer-"+tokA, "--max", "1"), "refusing to reclaim 2 namespaces in one run: --max is 1"},
		{"no endpoint", []string{"reclaim", ns, "--exporter-url", exp.URL, "--deprovision-token-file", tokenFile, "--reason", "x", "--yes", kc}, "no deprovision endpoint is configured"},
		{"bad endpoint", append(base(exp.URL), "--deprovision-url", "platform.internal"), "--deprovision-url"},
		{"secret in the URL", append(base(exp.URL), "--deprovision-url", "https://op:"+testSecret+"@platform.internal"), "must not carry user information"},
		{"no secret", []string{"reclaim", ns, "--exporter-url", exp.URL, "--deprovision-url", dp.URL, "--reason", "x", "--yes", kc}, "no deprovision secret"},
		{"missing secret file", append(base(exp.URL), "--deprovision-token-file", filepath.Join(dir, "nope")), "read deprovision secret"},
		{"no terminal, no --yes", []string{"reclaim", ns, "--exporter-url", exp.URL, "--deprovision-url", dp.URL, "--deprovision-token-file", tokenFile, "--reason", "x", kc}, "stdin is not a terminal; pass --yes"},
		{"plain-http deprovision API", append(base(exp.URL), "--deprovision-url", "http://platform.example"), "use https"},
		{"plain-http exporter", base("http://10.255.255.1:9866"), "is reached over plain http"},
		{"server dry run, no terminal, no --yes", []string{"reclaim", ns, "--exporter-url", exp.URL, "--deprovision-url", dp.URL, "--deprovision-token-file", tokenFile, "--reason", "x", "--dry-run=server", kc}, "stdin is not a terminal; pass --yes"},
		{"no types", append(base(exp.URL), "--types", ""), "--types must name"},
		{"no prefix", append(base(exp.URL), "--namespace-prefix", ""), "--namespace-prefix must not be empty"},
		{"destructive off", base(expOff.URL), "destructive reclaim disabled"},
		{"sweep disabled", base(expDisabled.URL), "sweep disabled"},
		{"sweep failed", base(failed.URL), "list namespaces: timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			for _, s := range []string{out, errOut, err.Error()} {
				if strings.Contains(s, testSecret) {
					t.Fatalf("the secret leaked: %q", s)
				}
			}
		})
	}
	if n := len(dp.Requests()); n != 0 {
		t.Fatalf("the stand-in received %d requests", n)
	}
}

func TestReclaimSecretFromEnvironment(t *testing.T) {
	t.Setenv(EnvDeprovisionToken, "two words")
	_, _, err := run(t, "reclaim", "instant-customer-x", "--exporter-url", "http://127.0.0.1:1", "--deprovision-url", "http://127.0.0.1:2", "--reason", "x", "--yes")
	if err == nil || !strings.Contains(err.Error(), EnvDeprovisionToken) || strings.Contains(err.Error(), "two words") {
		t.Fatalf("err %v", err)
	}
}

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		typed string
		ok    bool
	}{{testContext + "\n", true}, {" " + testContext + " \n", true}, {"yes\n", false}, {"3\n", false}, {"prod\n", false}, {"", false}} {
		streams, in, _, errOut := genericiooptions.NewTestIOStreams()
		in.WriteString(tc.typed)
		o := &ReclaimOptions{RootOptions: NewRootOptions(streams), contextName: testContext, DryRun: DryRunNone}
		err := o.confirm(context.Background(), 3)
		if (err == nil) != tc.ok {
			t.Errorf("typed %q: err %v", tc.typed, err)
		}
		if want := `deprovision 3 namespace(s) for kube context "` + testContext + `". Type the context's name to proceed: `; !strings.Contains(errOut.String(), want) {
			t.Errorf("prompt %q", errOut.String())
		}
	}
	// A server dry run asks the same way.
	streams, in, _, errOut := genericiooptions.NewTestIOStreams()
	in.WriteString(testContext + "\n")
	o := &ReclaimOptions{RootOptions: NewRootOptions(streams), contextName: testContext, DryRun: DryRunServer}
	if err := o.confirm(context.Background(), 2); err != nil || !strings.Contains(errOut.String(), "sends 2 dry-run request(s)") {
		t.Fatalf("server dry run: %v %q", err, errOut.String())
	}
	// Ctrl-C while the prompt waits aborts it.
	streams = genericiooptions.IOStreams{In: blockingReader{}, Out: &strings.Builder{}, ErrOut: &strings.Builder{}}
	o = &ReclaimOptions{RootOptions: NewRootOptions(streams), contextName: testContext}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.confirm(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

func TestSummarize(t *testing.T) {
	var b strings.Builder
	err := summarize(ReclaimReport{Outcomes: []Outcome{{Result: OutcomeReclaimed}, {Result: OutcomeSkipped}, {Result: OutcomeFailed}}}, &b)
	if err == nil || b.String() != "1 reclaimed, 1 skipped, 1 failed.\n" {
		t.Fatalf("%v %q", err, b.String())
	}
	b.Reset()
	if err := summarize(ReclaimReport{Outcomes: []Outcome{{Result: OutcomeReclaimed}, {Result: OutcomeSkipped}, {Result: OutcomeDryRunOK}}}, &b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	err = summarize(ReclaimReport{Outcomes: []Outcome{{Result: OutcomeUncertain}, {Result: OutcomeNotAttempted}}}, &b)
	if err == nil || b.String() != "1 uncertain, 1 not-attempted.\n" {
		t.Fatalf("%v %q", err, b.String())
	}
}
