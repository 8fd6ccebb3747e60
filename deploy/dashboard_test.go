package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "deploy/grafana/orphans-dashboard.json"

type dashboardPanel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Panels  []dashboardPanel          `json:"panels"`
}

type dashboard struct {
	UID        string           `json:"uid"`
	Title      string           `json:"title"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []dashboardVariable `json:"list"`
	} `json:"templating"`
}

type dashboardVariable struct {
	Name, Type string
	Query      any
}

// readDashboard reads a dashboard: the committed one or a fresh rendering.
func readDashboard(t *testing.T, path string) ([]byte, dashboard) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b, d
}

// variable returns the dashboard's variable of that name, if it has one.
func (d dashboard) variable(name string) (dashboardVariable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return dashboardVariable{}, false
}

// flatPanels lists the panels with queries, rows' children included.
func flatPanels(ps []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, p := range ps {
		out = append(out, flatPanels(p.Panels)...)
		if p.Type != "row" {
			out = append(out, p)
		}
	}
	return out
}

// dashboardExprs lists the queries of every panel, rows' children included.
func dashboardExprs(d dashboard) []string {
	var exprs []string
	for _, p := range flatPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// panelExprs lists the queries of the panels with that title.
func panelExprs(d dashboard, title string) []string {
	var exprs []string
	for _, p := range flatPanels(d.Panels) {
		for _, tg := range p.Targets {
			if p.Title == title {
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	return exprs
}

func TestDashboard(t *testing.T) {
	_, d := readDashboard(t, filepath.Join(repoRoot(), dashboardFile))
	if d.UID == "" || d.Title == "" {
		t.Fatalf("uid %q title %q: both are needed for a stable import", d.UID, d.Title)
	}
	if v, ok := d.variable("datasource"); !ok || v.Type != "datasource" || v.Query != "prometheus" {
		t.Error("no Prometheus datasource variable: the dashboard would be tied to one Grafana's data source uid")
	}
	if v, ok := d.variable("job"); !ok || v.Type != "query" || v.Query != `label_values(instant_orphan_db_sweep_up{job="orphans-exporter"}, job)` {
		t.Errorf("job variable %+v: want the jobs of the exporter's targets, for choosing one installation", v)
	}
	if _, ok := d.variable("cluster"); ok {
		t.Error("a cluster variable without showMultiCluster: the exporter's series carry no cluster label then")
	}

	titles := map[string]bool{}
	for _, p := range flatPanels(d.Panels) {
		titles[p.Title] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no size", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no expression", p.Title, tg.RefID)
			}
			if !strings.Contains(tg.Expr, `job=~"$job"`) {
				t.Errorf("panel %q target %s ignores the job variable: %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	exprs := dashboardExprs(d)
	// What the issue asks the dashboard to show.
	for _, title := range []string{"Backlog by kind", "Oldest candidate age by kind", "Sweep up and enabled", "Sweep duration", "New and resurrected candidates", "Ghosts by kind", "Leaked storage by kind", "Requests by handler and code", "Request latency by handler"} {
		if !titles[title] {
			t.Errorf("no panel %q", title)
		}
	}
	// Fresh checks refused (429) or failed (503) show per handler and code.
	for title, fragment := range map[string]string{
		"Requests by handler and code": "sum by (handler, code) (rate(instant_orphan_db_sweep_http_requests_total{",
		"Request latency by handler":   "sum by (le, handler) (rate(instant_orphan_db_sweep_http_request_duration_seconds_bucket{",
	} {
		if exprs := panelExprs(d, title); !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, fragment) }) {
			t.Errorf("panel %q queries %q, want one with %q", title, exprs, fragment)
		}
	}
	for metric, what := range map[string]string{
		"instant_orphan_db_sweep_candidates_current":                   "backlog",
		"instant_orphan_db_sweep_oldest_candidate_age_seconds":         "oldest candidate age",
		"instant_orphan_db_sweep_up":                                   "sweep health",
		"instant_orphan_db_sweep_duration_seconds_bucket":              "sweep duration",
		"instant_orphan_db_sweep_candidates_resurrected_total":         "resurrections",
		"instant_orphan_db_sweep_last_success_timestamp_seconds":       "sweep staleness",
		"instant_orphan_db_sweep_ghosts_current":                       "ghosts",
		"instant_orphan_db_sweep_candidates_storage_requested_bytes":   "leaked storage",
		"instant_orphan_db_sweep_candidates_pods":                      "pods at stake",
		"instant_orphan_db_sweep_contents_requests_total":              "contents reads",
		"instant_orphan_db_sweep_http_requests_total":                  "requests by handler and code",
		"instant_orphan_db_sweep_http_request_duration_seconds_bucket": "request latency",
	} {
		used := false
		for _, e := range exprs {
			used = used || slices.Contains(metricNames(e), metric)
		}
		if !used {
			t.Errorf("no panel shows %s (%s)", what, metric)
		}
	}
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`max by (kind) (instant_orphan_db_sweep_candidates_current) > 25`:                                     "instant_orphan_db_sweep_candidates_current",
		`absent(up{job="orphans-exporter", namespace="orphans-system"} == 1)`:                                 "up",
		`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"a|b"}[$__rate_interval])))`:                  "a_bucket",
		`time() - b_timestamp_seconds > 3 * c_interval_seconds and on (pod) d_enabled == 1`:                   "b_timestamp_seconds c_interval_seconds d_enabled",
		`sum without (instance) (rate(e_total[5m] offset 1h)) / ignoring (x) group_left (y) f unless g or h2`: "e_total f g h2",
		`max(x_seconds) > 7 * 86400 and 1e9 < bool y`:                                                         "x_seconds y",
		`count by (version, revision) (orphans_exporter_build_info{label="with ) and { inside"})`:             "orphans_exporter_build_info",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}
