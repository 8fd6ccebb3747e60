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
		List []struct {
			Name, Type string
			Query      any
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(t *testing.T) ([]byte, dashboard) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return b, d
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

func TestDashboard(t *testing.T) {
	_, d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("uid %q title %q: both are needed for a stable import", d.UID, d.Title)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
	}
	if !hasDS {
		t.Error("no Prometheus datasource variable: the dashboard would be tied to one Grafana's data source uid")
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
		}
	}
	exprs := dashboardExprs(d)
	// What the issue asks the dashboard to show.
	for _, title := range []string{"Backlog by kind", "Oldest candidate age by kind", "Sweep up and enabled", "Sweep duration", "New and resurrected candidates", "Ghosts by kind", "Leaked storage by kind"} {
		if !titles[title] {
			t.Errorf("no panel %q", title)
		}
	}
	for metric, what := range map[string]string{
		"instant_orphan_db_sweep_candidates_current":                 "backlog",
		"instant_orphan_db_sweep_oldest_candidate_age_seconds":       "oldest candidate age",
		"instant_orphan_db_sweep_up":                                 "sweep health",
		"instant_orphan_db_sweep_duration_seconds_bucket":            "sweep duration",
		"instant_orphan_db_sweep_candidates_resurrected_total":       "resurrections",
		"instant_orphan_db_sweep_last_success_timestamp_seconds":     "sweep staleness",
		"instant_orphan_db_sweep_ghosts_current":                     "ghosts",
		"instant_orphan_db_sweep_candidates_storage_requested_bytes": "leaked storage",
		"instant_orphan_db_sweep_candidates_pods":                    "pods at stake",
		"instant_orphan_db_sweep_contents_requests_total":            "contents reads",
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
