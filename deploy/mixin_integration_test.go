//go:build integration

package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The files `make mixin` renders, relative to deploy/ and to a rendering's
// directory alike.
var mixinOutputs = []string{
	"prometheus/prometheusrule.yaml",
	"prometheus/rules.yaml",
	"grafana/orphans-dashboard.json",
	"chart/orphans-exporter/files/rules.yaml",
	"chart/orphans-exporter/files/orphans-dashboard.json",
}

// renderMixin renders the mixin with config merged into its _config (JSON is
// jsonnet) through hack/mixin.sh, as `make mixin` does, and returns the
// directory it rendered into.
func renderMixin(t *testing.T, config map[string]any) string {
	t.Helper()
	tool(t, "jsonnet")
	if config == nil {
		config = map[string]any{}
	}
	c, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := run(ctx, repoRoot(), nil, nil, filepath.Join(repoRoot(), "hack", "mixin.sh"), dir, string(c)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// promtoolTestRules runs promtool's rule unit tests from deploy/mixin/tests
// against a rendering: copied into <dir>/tests, they read
// <dir>/prometheus/rules.yaml. Each alert of the rendering must have a case
// that fires and one that stays quiet when all is set.
func promtoolTestRules(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "mixin", "tests", name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "tests", name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rules := filepath.Join(dir, "prometheus", "rules.yaml")
	if out, _, err := run(ctx, dir, nil, nil, tool(t, "promtool"), "check", "rules", rules); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, _, err := run(ctx, dir, nil, nil, tool(t, "promtool"), append([]string{"test", "rules"}, paths...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestMixin(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _, err := run(ctx, repoRoot(), nil, nil, tool(t, "jsonnet"), "-e", "(import 'deploy/mixin/mixin.libsonnet')._config")
		if err != nil {
			t.Fatal(err)
		}
		var config map[string]any
		if err := json.Unmarshal(out, &config); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]any{
			"orphansSelector":   defaultSelector,
			"metricsNamespace":  defaultPrefix,
			"clusterLabel":      "cluster",
			"showMultiCluster":  false,
			"runbookURLPattern": "https://github.com/orphansweep/orphans/blob/main/docs/deploy.md#%s",
		} {
			if config[key] != want {
				t.Errorf("_config.%s = %v, want %v", key, config[key], want)
			}
		}
	})

	t.Run("committed files are the mixin rendered", func(t *testing.T) {
		dir := renderMixin(t, nil)
		for _, name := range mixinOutputs {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			committed, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, committed) {
				t.Errorf("deploy/%s differs from the mixin rendered: run `make mixin` and commit the result", name)
			}
		}
	})

	t.Run("relocated", func(t *testing.T) {
		s := selection{selector: `job="orphans-audit", namespace="tenant-audit"`, prefix: "acme"}
		dir := renderMixin(t, map[string]any{"orphansSelector": s.selector, "metricsNamespace": s.prefix})
		for _, name := range mixinOutputs {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, old := range []string{"instant_", `job=\"orphans-exporter\"`, "orphans-system"} {
				if bytes.Contains(b, []byte(old)) {
					t.Errorf("%s rendered for %s still holds %s", name, s.selector, old)
				}
			}
		}
		rf := readRules(t, filepath.Join(dir, "prometheus", "rules.yaml"))
		_, d := readDashboard(t, filepath.Join(dir, "grafana", "orphans-dashboard.json"))
		checkSelections(t, rf, d, s, jobMatcher)
		promtoolTestRules(t, dir, "relocated.yaml")
		checkAlertCases(t, alertsByName(t, rf), filepath.Join(dir, "prometheus", "rules.yaml"), []string{filepath.Join(dir, "tests", "relocated.yaml")})
	})

	t.Run("multi-cluster", func(t *testing.T) {
		dir := renderMixin(t, map[string]any{"showMultiCluster": true})
		rf := readRules(t, filepath.Join(dir, "prometheus", "rules.yaml"))
		_, d := readDashboard(t, filepath.Join(dir, "grafana", "orphans-dashboard.json"))
		checkSelections(t, rf, d, selection{selector: defaultSelector, prefix: defaultPrefix}, jobMatcher+`, cluster=~"$cluster"`)
		if v, ok := d.variable("cluster"); !ok || v.Query != `label_values(instant_orphan_db_sweep_up{job="orphans-exporter"}, cluster)` {
			t.Errorf("cluster variable %+v: want the clusters of the exporter's targets", v)
		}
		if v, _ := d.variable("job"); v.Query != `label_values(instant_orphan_db_sweep_up{job="orphans-exporter", cluster=~"$cluster"}, job)` {
			t.Errorf("job variable %+v: want the jobs of the cluster chosen", v)
		}
		exprs := dashboardExprs(d)
		for _, a := range alerts(t, rf) {
			exprs = append(exprs, a.Expr)
		}
		checkAggregationsKeep(t, "cluster", exprs)
		promtoolTestRules(t, dir, "multicluster.yaml")
	})
}

var (
	byClauseRE       = regexp.MustCompile(`\bby \(([^()]*)\)`)
	bareAggregatorRE = regexp.MustCompile(`\b(sum|max|min|count|avg)\(`)
)

// checkAggregationsKeep fails for an aggregation that drops label: one
// without a by clause, or with one that does not name it.
func checkAggregationsKeep(t *testing.T, label string, exprs []string) {
	t.Helper()
	for _, e := range exprs {
		if bareAggregatorRE.MatchString(e) {
			t.Errorf("%s aggregates without by (%s, …)", e, label)
		}
		for _, m := range byClauseRE.FindAllStringSubmatch(e, -1) {
			if !strings.HasPrefix(m[1], label+",") && m[1] != label {
				t.Errorf("%s aggregates by (%s), without %s", e, m[1], label)
			}
		}
	}
}
