package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	prometheusRuleFile = "deploy/prometheus/prometheusrule.yaml"
	rulesFile          = "deploy/prometheus/rules.yaml"
	rulesTestGlob      = "deploy/prometheus/tests/*.yaml"
)

// The PrometheusRule carries the plain rule file's groups, so what promtool
// tests is what is deployed. Both are rendered from the mixin; this holds
// them together even where the mixin's own tests cannot run.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(), prometheusRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       ruleFile       `json:"spec"`
	}
	if err := utilyaml.UnmarshalStrict(src, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Kind != "PrometheusRule" || pr.Metadata["name"] != "orphans-exporter" {
		t.Errorf("%s: kind %q name %v, want the PrometheusRule orphans-exporter", prometheusRuleFile, pr.Kind, pr.Metadata["name"])
	}
	plain := readRules(t, filepath.Join(repoRoot(), rulesFile))
	if fmt.Sprint(pr.Spec) != fmt.Sprint(plain) {
		t.Fatalf("rules differ:\nPrometheusRule: %v\nrules.yaml:     %v", pr.Spec, plain)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// readRules reads a plain rule file: the committed one or a fresh rendering.
func readRules(t *testing.T, path string) ruleFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := utilyaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rf
}

func alerts(t *testing.T, rf ruleFile) []rule {
	t.Helper()
	var out []rule
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no alerts")
	}
	return out
}

// The alerts the issue asks for, by what they watch; each must exist.
var requiredAlerts = map[string]string{
	"OrphanNamespaceBacklogHigh":     `max by (kind) (instant_orphan_db_sweep_candidates_current{job="orphans-exporter"}) > 25`,
	"OrphanNamespaceCandidateOld":    `instant_orphan_db_sweep_oldest_candidate_age_seconds{job="orphans-exporter"}`,
	"OrphanSweepFailing":             `instant_orphan_db_sweep_up{job="orphans-exporter"} == 0 and instant_orphan_db_sweep_enabled{job="orphans-exporter"} == 1`,
	"OrphanSweepStale":               `instant_orphan_db_sweep_last_success_timestamp_seconds{job="orphans-exporter"}`,
	"OrphanExporterAbsent":           `absent(up{job="orphans-exporter"} == 1)`,
	"OrphanCandidateResurrected":     `instant_orphan_db_sweep_candidates_resurrected_total{job="orphans-exporter"}`,
	"TenantResourceWithoutNamespace": `instant_orphan_db_sweep_ghosts_current{job="orphans-exporter"}`,
	"OrphanLeakedStorageHigh":        `instant_orphan_db_sweep_candidates_storage_requested_bytes{job="orphans-exporter"}`,
	"OrphanSafetyGuardWeakened":      `max by (guard) (instant_orphan_db_sweep_guard_weakened{job="orphans-exporter"}) > 0`,
}

// alertsByName indexes a rule file's alerts by name; a name defined twice
// fails the test.
func alertsByName(t *testing.T, rf ruleFile) map[string]rule {
	t.Helper()
	byName := map[string]rule{}
	for _, a := range alerts(t, rf) {
		if _, dup := byName[a.Alert]; dup {
			t.Errorf("alert %s defined twice", a.Alert)
		}
		byName[a.Alert] = a
	}
	return byName
}

// ruleTests lists promtool's unit test files for the rules.
func ruleTests(t *testing.T) []string {
	t.Helper()
	tests, err := filepath.Glob(filepath.Join(repoRoot(), rulesTestGlob))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests match %s (%v)", rulesTestGlob, err)
	}
	return tests
}

func TestAlertRules(t *testing.T) {
	byName := alertsByName(t, readRules(t, filepath.Join(repoRoot(), rulesFile)))
	t.Run("required alerts", func(t *testing.T) {
		for name, fragment := range requiredAlerts {
			a, ok := byName[name]
			if !ok {
				t.Errorf("alert %s missing", name)
				continue
			}
			if !strings.Contains(strings.Join(strings.Fields(a.Expr), " "), fragment) {
				t.Errorf("alert %s: expr %q does not contain %q", name, a.Expr, fragment)
			}
		}
		if b := byName["OrphanNamespaceBacklogHigh"]; b.For != "1h" || b.Labels["severity"] != "warning" {
			t.Errorf("OrphanNamespaceBacklogHigh: for %q severity %q, want the reference platform's P2: for 1h, severity warning", b.For, b.Labels["severity"])
		}
		if f := byName["OrphanSweepFailing"]; f.For != "15m" {
			t.Errorf("OrphanSweepFailing: for %q, want 15m", f.For)
		}
		// absent() of a comparison has no labels: the selector's job routes it.
		if a := byName["OrphanExporterAbsent"]; a.Labels["job"] != "orphans-exporter" || a.Labels["namespace"] != "" {
			t.Errorf("OrphanExporterAbsent labels %v: want job orphans-exporter from the selector and no namespace", a.Labels)
		}
	})

	t.Run("labels and runbooks", func(t *testing.T) {
		doc, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "deploy.md"))
		if err != nil {
			t.Fatal(err)
		}
		anchors := markdownAnchors(string(doc))
		for _, a := range byName {
			if !slices.Contains([]string{"critical", "warning", "info"}, a.Labels["severity"]) {
				t.Errorf("%s: severity %q", a.Alert, a.Labels["severity"])
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(a.Annotations[k]) == "" {
					t.Errorf("%s: no %s annotation", a.Alert, k)
				}
			}
			_, anchor, _ := strings.Cut(a.Annotations["runbook_url"], "/docs/deploy.md#")
			if anchor != strings.ToLower(a.Alert) || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q points at no heading of docs/deploy.md named after the alert", a.Alert, a.Annotations["runbook_url"])
			}
		}
	})

	t.Run("every alert has a firing and a quiet case", func(t *testing.T) {
		checkAlertCases(t, byName, filepath.Join(repoRoot(), rulesFile), ruleTests(t))
	})
}

// checkAlertCases reads promtool test files: each must test rulesPath and
// nothing else, and each alert must have a case that fires and one that stays
// quiet.
func checkAlertCases(t *testing.T, byName map[string]rule, rulesPath string, testFiles []string) {
	t.Helper()
	firing, quiet := map[string]int{}, map[string]int{}
	for _, path := range testFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var tf struct {
			RuleFiles []string `json:"rule_files"`
			Tests     []struct {
				AlertRuleTests []struct {
					Alertname string           `json:"alertname"`
					ExpAlerts []map[string]any `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := utilyaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(tf.RuleFiles) != 1 || filepath.Clean(filepath.Join(filepath.Dir(path), tf.RuleFiles[0])) != rulesPath {
			t.Errorf("%s tests %v, want only %s", path, tf.RuleFiles, rulesPath)
		}
		for _, tc := range tf.Tests {
			for _, at := range tc.AlertRuleTests {
				if _, ok := byName[at.Alertname]; !ok {
					t.Errorf("%s tests unknown alert %s", path, at.Alertname)
				}
				if len(at.ExpAlerts) > 0 {
					firing[at.Alertname]++
				} else {
					quiet[at.Alertname]++
				}
			}
		}
	}
	for name := range byName {
		if firing[name] == 0 || quiet[name] == 0 {
			t.Errorf("%s: %d firing and %d quiet cases, want at least one of each", name, firing[name], quiet[name])
		}
	}
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// markdownAnchors returns the GitHub anchors of a document's headings.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(doc, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

var (
	promqlStringRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchersRE = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRangeRE    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGroupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlOffsetRE   = regexp.MustCompile(`\boffset\s+-?[0-9a-z]+`)
	grafanaVarRE     = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promqlIdentRE    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "inf": true, "nan": true}
)

// metricNames lists the metric names an expression selects. It understands
// the PromQL the rules and the dashboard use (selectors, matchers, ranges,
// grouping clauses, function calls, Grafana variables); promtool checks the
// same expressions' syntax, so a construct this misreads fails there first.
func metricNames(expr string) []string {
	s := grafanaVarRE.ReplaceAllString(expr, "")
	s = promqlStringRE.ReplaceAllString(s, `""`)
	s = promqlMatchersRE.ReplaceAllString(s, " ")
	s = promqlRangeRE.ReplaceAllString(s, " ")
	s = promqlOffsetRE.ReplaceAllString(s, " ")
	for {
		next := promqlGroupingRE.ReplaceAllString(s, " ")
		if next == s {
			break
		}
		s = next
	}
	var out []string
	for _, m := range promqlIdentRE.FindAllStringSubmatchIndex(s, -1) {
		word := s[m[0]:m[1]]
		if m[2] >= 0 { // followed by "(": a function or aggregation
			continue
		}
		if promqlKeywords[strings.ToLower(word)] {
			continue
		}
		// An identifier glued to digits before it is part of a number or duration.
		if m[0] > 0 && (s[m[0]-1] >= '0' && s[m[0]-1] <= '9' || s[m[0]-1] == '.') {
			continue
		}
		if !slices.Contains(out, word) {
			out = append(out, word)
		}
	}
	return out
}
