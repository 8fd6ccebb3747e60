//go:build integration

package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The dashboard's queries parse, select only what the exporter exposes, and
// the rendered ConfigMap carries the file unchanged.
func TestDashboardQueries(t *testing.T) {
	raw, d := readDashboard(t, filepath.Join(repoRoot(), dashboardFile))
	exprs := dashboardExprs(d)

	t.Run("queries parse", func(t *testing.T) {
		// promtool parses each query as a recording rule, with Grafana's
		// interval variables replaced by what Grafana would send.
		var rules strings.Builder
		rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
		vars := strings.NewReplacer("$__rate_interval", "2m", "$__interval", "1m", "$__range", "1h")
		for i, e := range exprs {
			q, _ := json.Marshal(vars.Replace(e))
			fmt.Fprintf(&rules, "  - record: dashboard:query_%d\n    expr: %s\n", i, q)
		}
		path := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
		if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := run(ctx, repoRoot(), nil, nil, tool(t, "promtool"), "check", "rules", path); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("queries use exposed metrics", func(t *testing.T) {
		exposed := exporterFixture(t).metricNames
		for _, e := range exprs {
			names := metricNames(e)
			if len(names) == 0 {
				t.Errorf("query %q selects no metric", e)
			}
			for _, m := range names {
				if !exposed[m] {
					t.Errorf("query %q uses %s, which the exporter does not expose", e, m)
				}
			}
		}
	})

	t.Run("configmap carries the same json", func(t *testing.T) {
		cm := find(t, renderedObjects(t, "deploy/grafana"), "ConfigMap", "orphans-dashboard")
		if cm.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap labels %v: the Grafana sidecar looks for grafana_dashboard=\"1\"", cm.GetLabels())
		}
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		if len(data) != 1 || data["orphans-dashboard.json"] != string(raw) {
			t.Errorf("ConfigMap data keys %d: want orphans-dashboard.json, byte for byte the file", len(data))
		}
	})
}
