package deploy_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var update = flag.Bool("update", false, "rewrite derived files (deploy/prometheus/rules.yaml) from their sources")

const (
	prometheusRuleFile = "deploy/prometheus/prometheusrule.yaml"
	rulesFile          = "deploy/prometheus/rules.yaml"
	rulesTestGlob      = "deploy/prometheus/tests/*.yaml"
)

const rulesHeader = `# Generated from prometheusrule.yaml (its spec, unchanged) for Prometheus
# without the Operator and for promtool. Edit prometheusrule.yaml, then run
#   go test ./deploy -run TestRulesFileInSync -update
`

// rulesFromPrometheusRule cuts the spec out of the PrometheusRule and
// de-indents it, keeping the comments: a rule file is exactly that spec.
func rulesFromPrometheusRule(src []byte) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	start := slices.Index(lines, "spec:")
	if start < 0 {
		return nil, fmt.Errorf("%s: no top-level spec", prometheusRuleFile)
	}
	var out strings.Builder
	out.WriteString(rulesHeader)
	for _, l := range lines[start+1:] {
		if l == "" {
			out.WriteString("\n")
			continue
		}
		rest, ok := strings.CutPrefix(l, "  ")
		if !ok {
			return nil, fmt.Errorf("%s: line %q after spec is not indented under it", prometheusRuleFile, l)
		}
		out.WriteString(rest + "\n")
	}
	return []byte(strings.TrimRight(out.String(), "\n") + "\n"), nil
}

// The plain rule file promtool tests is the PrometheusRule's spec, so what is
// tested is what is deployed.
func TestRulesFileInSync(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(), prometheusRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := rulesFromPrometheusRule(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot(), rulesFile)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with %s: run `go test ./deploy -run TestRulesFileInSync -update`", rulesFile, prometheusRuleFile)
	}

	// Same rules, read the way each consumer reads them.
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       ruleFile       `json:"spec"`
	}
	if err := utilyaml.UnmarshalStrict(src, &pr); err != nil {
		t.Fatal(err)
	}
	plain := readRules(t)
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

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := utilyaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

func alerts(t *testing.T) []rule {
	t.Helper()
	var out []rule
	for _, g := range readRules(t).Groups {
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
	"OrphanNamespaceBacklogHigh":  `max by (kind) (instant_orphan_db_sweep_candidates_current) > 25`,
	"OrphanNamespaceCandidateOld": "instant_orphan_db_sweep_oldest_candidate_age_seconds",
	"OrphanSweepFailing":          "instant_orphan_db_sweep_up == 0 and instant_orphan_db_sweep_enabled == 1",
	"OrphanSweepStale":            "instant_orphan_db_sweep_last_success_timestamp_seconds",
	"OrphanExporterAbsent":        "absent(",
	"OrphanCandidateResurrected":  "instant_orphan_db_sweep_candidates_resurrected_total",
}

// alertsByName indexes the alerts by name; a name defined twice fails the test.
func alertsByName(t *testing.T) map[string]rule {
	t.Helper()
	byName := map[string]rule{}
	for _, a := range alerts(t) {
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
	tests := ruleTests(t)
	byName := alertsByName(t)
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
			if !anchors[anchor] {
				t.Errorf("%s: runbook_url %q points at no heading of docs/deploy.md", a.Alert, a.Annotations["runbook_url"])
			}
		}
	})

	t.Run("every alert has a firing and a quiet case", func(t *testing.T) {
		firing, quiet := map[string]int{}, map[string]int{}
		for _, path := range tests {
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
			if len(tf.RuleFiles) != 1 || filepath.Clean(filepath.Join(filepath.Dir(path), tf.RuleFiles[0])) != filepath.Join(repoRoot(), rulesFile) {
				t.Errorf("%s tests %v, want only %s", path, tf.RuleFiles, rulesFile)
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
	})
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
