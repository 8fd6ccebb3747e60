package exporter

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"

	"github.com/orphansweep/orphans/internal/testenv"
)

func readme(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeFlagsTable keeps the README's configuration table in step with
// the flags the binary registers: names and defaults.
func TestReadmeFlagsTable(t *testing.T) {
	rowRE := regexp.MustCompile("(?m)^\\| `--([a-z0-9.-]+)` \\| `([^`]*)` \\|")
	documented := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(readme(t), -1) {
		documented[m[1]] = m[2]
	}
	app := kingpin.New("test", "")
	var o Options
	o.AddFlags(app)
	registered := map[string]string{"log.level": "info", "log.format": "logfmt"} // promslog's, added in main
	for _, f := range app.Model().Flags {
		if f.Hidden || f.Name == "help" || f.Name == "version" {
			continue
		}
		def := strings.Join(f.Default, ",")
		if def == "" && f.IsBoolFlag() {
			def = "false"
		}
		if computed, ok := computedDefaults[f.Name]; ok {
			def = computed
		}
		if def == "" {
			def = `""`
		}
		registered[f.Name] = def
	}
	for name, def := range registered {
		doc, ok := documented[name]
		if !ok {
			t.Errorf("--%s is not in the README's configuration table", name)
			continue
		}
		if doc != def {
			t.Errorf("--%s: README says default %s, the flag's is %s", name, doc, def)
		}
	}
	for name := range documented {
		if _, ok := registered[name]; !ok {
			t.Errorf("README documents --%s, which does not exist", name)
		}
	}
}

// TestReadmeMetricsTable keeps the README's metrics table in step with what
// the exporter serves.
func TestReadmeMetricsTable(t *testing.T) {
	rowRE := regexp.MustCompile("(?m)^\\| `([a-z_]+)(\\{[a-z,]+\\})?` \\|")
	var documented []string
	for _, m := range rowRE.FindAllStringSubmatch(readme(t), -1) {
		documented = append(documented, m[1])
	}
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Validate(envOf())
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "instant_") || strings.HasPrefix(mf.GetName(), "orphans_") {
			served = append(served, mf.GetName())
		}
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("README metrics table:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}
