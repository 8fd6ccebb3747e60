//go:build integration

package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const chartDir = "deploy/chart/orphans-exporter"

// overrides turns on everything the chart can render, with non-default
// names and values, as an operator next to kube-prometheus-stack would.
var overrides = []string{
	"--set", "sweep.enabled=true",
	"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=kube-prometheus-stack",
	"--set", "serviceMonitor.interval=1m",
	"--set", "prometheusRule.enabled=true", "--set", "prometheusRule.additionalLabels.release=kube-prometheus-stack",
	"--set", "dashboards.enabled=true",
	"--set", "webAuth.enabled=true",
	"--set", "networkPolicy.controlPlaneCIDRs={10.0.0.0/24,fd00::/64}",
	"--set", "metricsNamespace=acme",
	"--set", "extraArgs={--sweep.grace=6h,--reclaim.types=redis}",
	"--set", "image.digest=sha256:" + strings.Repeat("ab", 32),
	"--set", "replicaCount=2",
}

// helmTemplate renders the chart as `helm template` does for a release.
func helmTemplate(t *testing.T, release, namespace string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := run(ctx, repoRoot(), nil, nil, tool(t, "helm"),
		append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	return out, err
}

func mustTemplate(t *testing.T, release, namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(t, release, namespace, args...)
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, out)
}

func TestChartLint(t *testing.T) {
	for name, args := range map[string][]string{"defaults": nil, "overrides": overrides} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, _, err := run(ctx, repoRoot(), nil, nil, tool(t, "helm"), append([]string{"lint", "--strict", chartDir}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// The chart rendered with its defaults and with every option on is accepted
// by a real API server (with the Prometheus Operator's CRDs) in a server-side
// dry run, and its pod template meets the restricted Pod Security level.
func TestChartAppliesServerSide(t *testing.T) {
	kubeconfig := adminKubeconfig(t, controlPlane(t))
	for name, args := range map[string][]string{"defaults": nil, "overrides": overrides} {
		t.Run(name, func(t *testing.T) {
			namespace := "orphans-chart-" + name
			ns := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Namespace",
				"metadata": map[string]any{"name": namespace, "labels": map[string]any{
					"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
				}},
			}}
			applyForReal(t, kubeconfig, ns)
			objs := mustTemplate(t, "orphans-exporter", namespace, args...)
			for _, o := range objs {
				if isNamespaced(o) && o.GetNamespace() != namespace && !(o.GetKind() == "Role" && o.GetNamespace() == "default") {
					t.Errorf("%s/%s rendered into namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), namespace)
				}
			}
			if stderr := dryRun(t, kubeconfig, toStream(t, objs...)); strings.Contains(string(stderr), "PodSecurity") {
				t.Errorf("pod template falls short of the restricted level:\n%s", stderr)
			}
		})
	}
}

// The default render is deploy/base in what matters: RBAC, arguments,
// environment, ports, probes, resources and security contexts.
func TestChartDefaultsMatchKustomizeBase(t *testing.T) {
	chart := mustTemplate(t, "orphans-exporter", systemNamespace)
	base := renderedObjects(t, "deploy/base")

	rules := func(objs []*unstructured.Unstructured, kind, name string) []rbacv1.PolicyRule {
		var r rbacv1.ClusterRole
		convert(t, find(t, objs, kind, name), &r)
		return r.Rules
	}
	for _, pair := range [][2]string{{"orphans-exporter", "orphans-exporter"}, {"orphans-operator", "orphans-exporter-operator"}} {
		if got, want := rules(chart, "ClusterRole", pair[1]), rules(base, "ClusterRole", pair[0]); !sameRules(got, want) {
			t.Errorf("ClusterRole %s: %s, kustomize's %s: %s", pair[1], jsonString(got), pair[0], jsonString(want))
		}
	}
	events := renderedObjects(t, "deploy/operator-events")
	if got, want := rules(chart, "Role", "orphans-exporter-operator-events"), rules(events, "Role", "orphans-operator-events"); !sameRules(got, want) {
		t.Errorf("events Role: %s, kustomize's %s", jsonString(got), jsonString(want))
	}
	if errs := rbacViolations(t, renamedForReview(t, chart)); len(errs) > 0 {
		t.Errorf("the chart's RBAC: %v", errs)
	}

	var cd, bd appsv1.Deployment
	convert(t, find(t, chart, "Deployment", "orphans-exporter"), &cd)
	convert(t, find(t, base, "Deployment", "orphans-exporter"), &bd)
	cp, bp := cd.Spec.Template.Spec, bd.Spec.Template.Spec
	if !reflect.DeepEqual(cp.SecurityContext, bp.SecurityContext) {
		t.Errorf("pod securityContext %s, kustomize's %s", jsonString(cp.SecurityContext), jsonString(bp.SecurityContext))
	}
	cc, bc := cp.Containers[0], bp.Containers[0]
	for what, pair := range map[string][2]any{
		"args": {cc.Args, bc.Args}, "env": {cc.Env, bc.Env}, "ports": {cc.Ports, bc.Ports},
		"liveness probe": {cc.LivenessProbe, bc.LivenessProbe}, "readiness probe": {cc.ReadinessProbe, bc.ReadinessProbe},
		"resources": {cc.Resources, bc.Resources}, "securityContext": {cc.SecurityContext, bc.SecurityContext},
		"image": {cc.Image, bc.Image}, "replicas": {cd.Spec.Replicas, bd.Spec.Replicas},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("container %s %s, kustomize's %s", what, jsonString(pair[0]), jsonString(pair[1]))
		}
	}

	var cs, bs corev1.Service
	convert(t, find(t, chart, "Service", "orphans-exporter"), &cs)
	convert(t, find(t, base, "Service", "orphans-exporter"), &bs)
	if !reflect.DeepEqual(cs.Spec.Ports, bs.Spec.Ports) {
		t.Errorf("Service ports %s, kustomize's %s", jsonString(cs.Spec.Ports), jsonString(bs.Spec.Ports))
	}
	var cn, bn networkingv1.NetworkPolicy
	convert(t, find(t, chart, "NetworkPolicy", "orphans-exporter"), &cn)
	convert(t, find(t, base, "NetworkPolicy", "orphans-exporter"), &bn)
	if !reflect.DeepEqual(cn.Spec.Ingress, bn.Spec.Ingress) || !reflect.DeepEqual(cn.Spec.PolicyTypes, bn.Spec.PolicyTypes) {
		t.Errorf("NetworkPolicy ingress %s, kustomize's %s", jsonString(cn.Spec.Ingress), jsonString(bn.Spec.Ingress))
	}
	// Off by default: they need the Prometheus Operator's CRDs or a Grafana.
	for _, o := range chart {
		switch o.GetKind() {
		case "ServiceMonitor", "PrometheusRule", "ConfigMap":
			t.Errorf("%s/%s rendered by default", o.GetKind(), o.GetName())
		}
	}
}

// renamedForReview maps the chart's role names to the reviewed ones of
// deploy/, so the same least-privilege review applies to both.
func renamedForReview(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	names := map[string]string{
		"orphans-exporter-operator": "orphans-operator", "orphans-exporter-operator-events": "orphans-operator-events",
		"orphans-exporter-auth": "orphans-exporter-auth", "orphans-exporter-metrics-reader": "orphans-metrics-reader",
	}
	var out []*unstructured.Unstructured
	for _, o := range cloneAll(objs) {
		switch o.GetKind() {
		case "ClusterRole", "Role":
			if n, ok := names[o.GetName()]; ok {
				o.SetName(n)
			}
		case "ClusterRoleBinding", "RoleBinding":
			ref, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
			if n, ok := names[ref]; ok {
				_ = unstructured.SetNestedField(o.Object, n, "roleRef", "name")
			}
		}
		out = append(out, o)
	}
	return out
}

// Reclaim is on only when asked for in so many words, and the rendered
// environment says so.
func TestChartReclaimNeedsExplicitValues(t *testing.T) {
	env := func(args ...string) map[string]string {
		t.Helper()
		var d appsv1.Deployment
		convert(t, find(t, mustTemplate(t, "orphans-exporter", systemNamespace, args...), "Deployment", "orphans-exporter"), &d)
		out := map[string]string{"annotation": d.Annotations["orphans.dev/reclaim"]}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			out[e.Name] = e.Value
		}
		return out
	}
	for _, tc := range []struct {
		args                     []string
		enabled, destructive, an string
	}{
		{nil, "false", "false", ""},
		{[]string{"--set", "sweep.enabled=true"}, "true", "false", ""},
		{[]string{"--set", "sweep.enabled=true", "--set", "reclaim.destructiveEnabled=true"}, "true", "true", "enabled"},
	} {
		got := env(tc.args...)
		if got["ORPHAN_DB_SWEEP_ENABLED"] != tc.enabled || got["ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED"] != tc.destructive || got["annotation"] != tc.an {
			t.Errorf("%v: %v", tc.args, got)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "reclaim.destructiveEnabled=true"}, "reclaim.destructiveEnabled needs sweep.enabled"},
		{[]string{"--set-string", "sweep.enabled=true"}, "sweep.enabled"},
		{[]string{"--set-string", "reclaim.destructiveEnabled=yes", "--set", "sweep.enabled=true"}, "reclaim.destructiveEnabled"},
		{[]string{"--set", "ledger.existingSecret="}, "existingSecret"},
		{[]string{"--set", "extraArgs={sweep.grace=0s}"}, "extraArgs"},
		{[]string{"--set", "image.digest=latest"}, "digest"},
	} {
		if _, err := helmTemplate(t, "orphans-exporter", systemNamespace, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// The chart's alerts select its release's job and namespace and its metric
// prefix: promtool fires them on the release's series and on nothing else.
func TestChartAlertsFollowTheRelease(t *testing.T) {
	objs := mustTemplate(t, "acme", "tenants", "--set", "prometheusRule.enabled=true", "--set", "metricsNamespace=acme",
		"--set", "dashboards.enabled=true")
	rule := find(t, objs, "PrometheusRule", "acme-orphans-exporter")
	spec, _, _ := unstructured.NestedMap(rule.Object, "spec")
	dir := t.TempDir()
	rules, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rules), "__ORPHANS_") {
		t.Fatalf("placeholders left in the rules:\n%s", rules)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	series := func(job, prefix string) string {
		return fmt.Sprintf(`%s_orphan_db_sweep_candidates_current{job=%q, namespace="tenants", pod="a", kind="customer_namespace"}`, prefix, job)
	}
	test := fmt.Sprintf(`rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '%s'
        values: '30x80'
      - series: 'up{job="acme-orphans-exporter", namespace="tenants", pod="a"}'
        values: '1x80'
    alert_rule_test:
      - eval_time: 70m
        alertname: OrphanNamespaceBacklogHigh
        exp_alerts:
          - exp_labels: {severity: warning, priority: P2, kind: customer_namespace}
            exp_annotations:
              summary: More than 25 orphan candidates of kind customer_namespace for an hour.
              description: 30 tenant namespaces of kind customer_namespace have no live ledger record. Each keeps pods and volumes running; list them with `+"`kubectl orphans list`"+` and reclaim them deliberately.
              runbook_url: https://github.com/orphansweep/orphans/blob/main/docs/deploy.md#orphannamespacebackloghigh
      - eval_time: 70m
        alertname: OrphanExporterAbsent
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: '%s'
        values: '30x80'
      - series: '%s'
        values: '30x80'
      - series: 'up{job="orphans-exporter", namespace="orphans-system", pod="a"}'
        values: '1x80'
    alert_rule_test:
      - eval_time: 70m
        alertname: OrphanNamespaceBacklogHigh
        exp_alerts: []
      - eval_time: 70m
        alertname: OrphanExporterAbsent
        exp_alerts:
          - exp_labels: {severity: warning, job: acme-orphans-exporter, namespace: tenants}
            exp_annotations:
              summary: The orphans exporter has not been scraped for 15 minutes.
              description: 'Prometheus has no healthy orphans exporter target (up{job="acme-orphans-exporter", namespace="tenants"}), so orphaned namespaces go unnoticed and none of the other orphan alerts can fire.'
              runbook_url: https://github.com/orphansweep/orphans/blob/main/docs/deploy.md#orphanexporterabsent
`, series("acme-orphans-exporter", "acme"), series("orphans-exporter", "instant"), series("orphans-exporter", "acme"))
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, _, err := run(ctx, dir, nil, nil, tool(t, "promtool"), "test", "rules", "test.yaml"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// The dashboard chooses among this release's targets.
	cm := find(t, objs, "ConfigMap", "acme-orphans-exporter-dashboard")
	text, _, _ := unstructured.NestedString(cm.Object, "data", "orphans-dashboard.json")
	var dash map[string]any
	if err := json.Unmarshal([]byte(text), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if strings.Contains(text, "__ORPHANS_") || !strings.Contains(text, `acme_orphan_db_sweep_up{job=\"acme-orphans-exporter\", namespace=\"tenants\"}`) {
		t.Fatalf("the dashboard does not select the release's targets:\n%.2000s", text)
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v, want the Grafana sidecar's grafana_dashboard", cm.GetLabels())
	}
}

// webAuth turns on --web.auth=kubernetes with its review RBAC, the scrape
// permission for Prometheus, and a ServiceMonitor that sends its token.
func TestChartWebAuth(t *testing.T) {
	objs := mustTemplate(t, "orphans-exporter", systemNamespace, "--set", "webAuth.enabled=true", "--set", "serviceMonitor.enabled=true")
	var d appsv1.Deployment
	convert(t, find(t, objs, "Deployment", "orphans-exporter"), &d)
	if args := d.Spec.Template.Spec.Containers[0].Args; !strings.Contains(strings.Join(args, " "), "--web.auth=kubernetes") {
		t.Errorf("args %v", args)
	}
	sm := find(t, objs, "ServiceMonitor", "orphans-exporter")
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" || eps[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("ServiceMonitor endpoints %v", eps)
	}
	if errs := rbacViolations(t, renamedForReview(t, objs)); len(errs) > 0 {
		t.Errorf("RBAC with webAuth: %v", errs)
	}
	find(t, objs, "ClusterRoleBinding", "orphans-exporter-metrics-reader")
}
