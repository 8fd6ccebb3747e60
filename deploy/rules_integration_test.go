//go:build integration

package deploy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// promtool accepts the rules rendered from the mixin and passes their unit
// tests, and every alert watches only series the exporter exposes.
func TestAlertRulesPromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("promtool check rules", func(t *testing.T) {
		out, _, err := run(ctx, repoRoot(), nil, nil, promtool, "check", "rules", rulesFile)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", out)
	})

	t.Run("promtool test rules", func(t *testing.T) {
		out, _, err := run(ctx, repoRoot(), nil, nil, promtool, append([]string{"test", "rules"}, ruleTests(t)...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Logf("%s", out)
	})

	t.Run("metrics the exporter exposes", func(t *testing.T) {
		exposed := exporterFixture(t).metricNames
		for _, a := range alertsByName(t, readRules(t, filepath.Join(repoRoot(), rulesFile))) {
			for _, m := range metricNames(a.Expr) {
				// up is the scrape's own health series, written by Prometheus.
				if m != "up" && !exposed[m] {
					t.Errorf("%s uses %s, which the exporter does not expose", a.Alert, m)
				}
			}
		}
	})
}
