package plugin

import (
	"flag"
	"os"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// list and ghosts take kubectl's template outputs over the exporter's
// document.
func TestListAndGhostsTemplates(t *testing.T) {
	doc := document()
	exp := fakeExporter(t, 200, doc)
	out, errOut, err := run(t, "list", "--exporter-url", exp.URL, "-o", "jsonpath={.candidates[0].namespace}")
	if err != nil || out != doc.Candidates[0].Namespace {
		t.Fatalf("jsonpath: %q, %v\n%s", out, err, errOut)
	}
	out, _, err = run(t, "list", "--exporter-url", exp.URL, "-o", "go-template={{range .candidates}}{{.token}} {{end}}")
	if err != nil || strings.Fields(out)[0] != doc.Candidates[0].Token || len(strings.Fields(out)) != len(doc.Candidates) {
		t.Fatalf("go-template: %q, %v", out, err)
	}
	gd := ghostDoc()
	gs := ghostsServer(t, 200, gd)
	out, _, err = run(t, "ghosts", "--exporter-url", gs.URL, "-o", "go-template={{range .ghosts}}{{.namespace}}{{\"\\n\"}}{{end}}")
	if err != nil || strings.Count(out, "\n") != len(gd.Ghosts) || !strings.HasPrefix(out, gd.Ghosts[0].Namespace+"\n") {
		t.Fatalf("ghosts go-template: %q, %v", out, err)
	}
	out, _, err = run(t, "ghosts", "--exporter-url", gs.URL, "-o", "jsonpath", "--template", "{.ghosts[0].token}")
	if err != nil || out != gd.Ghosts[0].Token {
		t.Fatalf("ghosts --template: %q, %v", out, err)
	}
	for _, bad := range []string{"xml", "jsonpath={.candidates[", "go-template={{.nope"} {
		if _, _, err := run(t, "list", "--exporter-url", exp.URL, "-o", bad); err == nil || !strings.Contains(err.Error(), bad[:3]) {
			t.Errorf("-o %s: %v", bad, err)
		}
	}
}

// -n names the exporter's namespace, or is refused: never ignored.
func TestNamespaceFlagNamesTheExportersNamespace(t *testing.T) {
	exp := newExporterStub(t, document())
	c := newFakeCluster(t, false)
	c.exporter = exp
	out, errOut, err := run(t, "list", "--kubeconfig", c.kubeconfig, "-n", "orphans-system", "-o", "name")
	if err != nil || c.proxied() != 1 || !strings.Contains(out, "namespace/") {
		t.Fatalf("-n orphans-system: %v, %d proxied\n%s%s", err, c.proxied(), out, errOut)
	}
	// The fake API server proxies only orphans-system: another -n reaches
	// another Service, which it does not know.
	if _, _, err := run(t, "list", "--kubeconfig", c.kubeconfig, "-n", "elsewhere"); err == nil || c.proxied() != 1 {
		t.Fatalf("-n elsewhere reached orphans-system: %v", err)
	}
	for name, args := range map[string][]string{
		"with --exporter-url":          {"--exporter-url", exp.URL, "-n", "orphans-system"},
		"against --exporter-namespace": {"--kubeconfig", c.kubeconfig, "-n", "a", "--exporter-namespace", "b"},
	} {
		if _, _, err := run(t, append([]string{"list"}, args...)...); err == nil || !strings.Contains(err.Error(), "-n/--namespace") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := run(t, "list", "--kubeconfig", c.kubeconfig, "-n", "orphans-system", "--exporter-namespace", "orphans-system", "-o", "name"); err != nil {
		t.Fatalf("-n and --exporter-namespace agreeing: %v", err)
	}
}

// -v sets client-go's klog verbosity, as in kubectl.
func TestVerbosityFlag(t *testing.T) {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	klog.InitFlags(fs)
	t.Cleanup(func() { _ = fs.Set("v", "0") })
	exp := fakeExporter(t, 200, document())
	if _, _, err := run(t, "list", "--exporter-url", exp.URL, "-v", "6", "-o", "name"); err != nil {
		t.Fatal(err)
	}
	if !klog.V(6).Enabled() || klog.V(7).Enabled() {
		t.Fatal("-v 6 did not set klog's verbosity to 6")
	}
}

// The root help and the package doc list every command.
func TestRootHelpListsEveryCommand(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	root := NewCmdOrphans(streams)
	out, _, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("root.go")
	if err != nil {
		t.Fatal(err)
	}
	pkgDoc, _, _ := strings.Cut(strings.ReplaceAll(string(src), "\n// ", " "), "package plugin")
	for _, c := range root.Commands() {
		if !strings.Contains(pkgDoc, " "+c.Name()+"`") && !strings.Contains(pkgDoc, "`"+c.Name()+"`") {
			t.Errorf("the package doc does not name %q", c.Name())
		}
	}
	for _, c := range root.Commands() {
		if !strings.Contains(out, "\n  "+c.Name()+" ") {
			t.Errorf("root help does not list %q:\n%s", c.Name(), out)
		}
		for _, sub := range c.Commands() {
			if !strings.Contains(out, "\n  "+c.Name()+" "+sub.Name()+" ") {
				t.Errorf("root help does not list %q:\n%s", c.Name()+" "+sub.Name(), out)
			}
		}
	}
}
