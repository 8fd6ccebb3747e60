package deploy_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The mixin's defaults (deploy/mixin/config.libsonnet), which the committed
// rules and dashboard are rendered with.
const (
	defaultSelector = `job="orphans-exporter"`
	defaultPrefix   = "instant"
)

// The dashboard's variables, added to the selector of every panel query.
const jobMatcher = `job=~"$job"`

// unprefixedMetrics are the series an alert or panel may use that do not
// carry --metrics.namespace: the scrape's own up, and the exporter's Go,
// process and build series.
var unprefixedMetrics = map[string]bool{
	"up":                            true,
	"process_resident_memory_bytes": true,
	"go_memstats_heap_inuse_bytes":  true,
	"orphans_exporter_build_info":   true,
}

// selection is how every query of one rendering must select the exporter:
// each selector holds selector, and each exporter metric is named under prefix.
type selection struct {
	selector, prefix string
}

var namespaceMatcherRE = regexp.MustCompile(`\bnamespace\s*(=|!=|=~|!~)`)

// problems lists how expr strays from the selection: a metric outside the
// prefix, a metric selected without the selector, a Kubernetes namespace
// named other than through the selector.
func (s selection) problems(expr string) []string {
	var out []string
	if strings.Contains(expr, "orphans-system") {
		out = append(out, "names orphans-system")
	}
	if namespaceMatcherRE.MatchString(strings.ReplaceAll(expr, s.selector, "")) {
		out = append(out, "matches a namespace the selector does not name")
	}
	for _, m := range metricNames(expr) {
		if !strings.HasPrefix(m, s.prefix+"_orphan_db_sweep_") && !unprefixedMetrics[m] {
			out = append(out, fmt.Sprintf("%s is not named under the prefix %s", m, s.prefix))
		}
		uses := regexp.MustCompile(`\b`+regexp.QuoteMeta(m)+`\b(\{[^{}]*\})?`).FindAllStringSubmatch(expr, -1)
		for _, u := range uses {
			if !strings.Contains(u[1], s.selector) {
				out = append(out, fmt.Sprintf("%s%s is selected without %s", m, u[1], s.selector))
			}
		}
	}
	return out
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+), (\w+)\)$`)

// checkSelections checks every alert expression, panel query and variable
// query of one rendering against its selection: panels also select by the
// dashboard's variables (matchers), the variables by the selector alone.
func checkSelections(t *testing.T, rf ruleFile, d dashboard, s selection, matchers string) {
	t.Helper()
	for _, a := range alerts(t, rf) {
		for _, p := range s.problems(a.Expr) {
			t.Errorf("alert %s: %s: %s", a.Alert, p, a.Expr)
		}
	}
	panels := selection{selector: s.selector + ", " + matchers, prefix: s.prefix}
	for _, e := range dashboardExprs(d) {
		for _, p := range panels.problems(e) {
			t.Errorf("panel query %s: %s", p, e)
		}
	}
	for _, v := range d.Templating.List {
		q, _ := v.Query.(string)
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(series, label)", v.Name, q)
			continue
		}
		for _, p := range s.problems(m[1]) {
			t.Errorf("variable %s: %s: %s", v.Name, p, q)
		}
	}
}

// The committed rules and dashboard select the exporter only through the
// mixin's selector and prefix: nothing names the namespace it was installed
// in, so installing it elsewhere is a matter of _config.
func TestGeneratedQueries(t *testing.T) {
	rf := readRules(t, filepath.Join(repoRoot(), rulesFile))
	_, d := readDashboard(t, filepath.Join(repoRoot(), dashboardFile))
	checkSelections(t, rf, d, selection{selector: defaultSelector, prefix: defaultPrefix}, jobMatcher)
}

// selection.problems is the check above; it must catch each way a query can
// stray, or the test above passes on anything.
func TestSelectionProblems(t *testing.T) {
	s := selection{selector: `job="a", namespace="n"`, prefix: "acme"}
	for expr, want := range map[string]int{
		`max by (kind) (acme_orphan_db_sweep_x{job="a", namespace="n"}) > 1`:                 0,
		`absent(up{job="a", namespace="n"} == 1)`:                                            0,
		`acme_orphan_db_sweep_x{job="a", namespace="n"} and acme_orphan_db_sweep_y{job="a"}`: 1,
		`acme_orphan_db_sweep_x`:                                                                      1,
		`instant_orphan_db_sweep_x{job="a", namespace="n"}`:                                           1,
		`acme_orphan_db_sweep_x{job="a", namespace="n", namespace="orphans-system"}`:                  2,
		`rate(acme_orphan_db_sweep_x{job="a", namespace="n"}[5m]) / acme_orphan_db_sweep_up{job="b"}`: 1,
	} {
		if got := s.problems(expr); len(got) != want {
			t.Errorf("problems(%s) = %q, want %d", expr, got, want)
		}
	}
}
