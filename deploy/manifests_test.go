//go:build integration

package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func renderedDeployment(t *testing.T, dir string) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	convert(t, find(t, renderedObjects(t, dir), "Deployment", "orphans-exporter"), &d)
	return d
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, e.ValueFrom == nil
		}
	}
	return "", false
}

// The safety flags are off in the base, only the sweep is on in detect, and
// only the reclaim overlay, which nothing includes, turns both on.
func TestSafetyFlags(t *testing.T) {
	want := map[string][2]string{
		"deploy/base":             {"false", "false"},
		"deploy/overlays/detect":  {"true", "false"},
		"deploy/overlays/reclaim": {"true", "true"},
	}
	for dir, w := range want {
		d := renderedDeployment(t, dir)
		c := d.Spec.Template.Spec.Containers[0]
		master, ok1 := envValue(c, "ORPHAN_DB_SWEEP_ENABLED")
		destructive, ok2 := envValue(c, "ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED")
		if !ok1 || !ok2 || master != w[0] || destructive != w[1] {
			t.Errorf("%s: ORPHAN_DB_SWEEP_ENABLED=%q ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED=%q (literal: %v %v), want %q %q",
				dir, master, destructive, ok1, ok2, w[0], w[1])
		}
	}

	// No kustomization pulls in the reclaim overlay.
	err := filepath.WalkDir(filepath.Join(repoRoot(), "deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" || strings.Contains(path, filepath.Join("overlays", "reclaim")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var k struct {
			Resources  []string `json:"resources"`
			Components []string `json:"components"`
		}
		if err := utilyaml.Unmarshal(b, &k); err != nil {
			return err
		}
		for _, r := range append(k.Resources, k.Components...) {
			if strings.Contains(filepath.ToSlash(r), "reclaim") {
				t.Errorf("%s includes %s", path, r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeploymentHardening(t *testing.T) {
	for _, dir := range []string{"deploy/base", "deploy/overlays/detect", "deploy/overlays/reclaim", "deploy/overlays/auth"} {
		t.Run(dir, func(t *testing.T) {
			d := renderedDeployment(t, dir)
			pod := d.Spec.Template.Spec
			if pod.ServiceAccountName != "orphans-exporter" {
				t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
			}
			psc := pod.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext %+v: want runAsNonRoot, a numeric non-zero runAsUser, RuntimeDefault seccomp", psc)
			}
			if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
				t.Fatalf("want exactly one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
			}
			c := pod.Containers[0]
			sc := c.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.Capabilities == nil || len(sc.Capabilities.Add) != 0 || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
				(sc.Privileged != nil && *sc.Privileged) {
				t.Errorf("container securityContext %+v: want no privilege escalation, read-only root, all capabilities dropped", sc)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[res]; !ok {
					t.Errorf("no %s request", res)
				}
				if _, ok := c.Resources.Limits[res]; !ok {
					t.Errorf("no %s limit", res)
				}
			}
			probe := func(name string, p *corev1.Probe, path string) {
				// The probes answer without credentials on the metrics port only.
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "metrics" || len(p.HTTPGet.HTTPHeaders) != 0 {
					t.Errorf("%s probe %+v, want GET %s on port metrics, without headers", name, p, path)
				}
			}
			probe("liveness", c.LivenessProbe, "/livez")
			probe("readiness", c.ReadinessProbe, "/readyz")
			if len(c.Ports) != 2 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 9866 ||
				c.Ports[1].Name != "api" || c.Ports[1].ContainerPort != 9867 {
				t.Errorf("ports %+v, want metrics on 9866 and api on 9867", c.Ports)
			}
			if !slices.Contains(c.Args, "--web.listen-address=:9866") || !slices.Contains(c.Args, "--api.listen-address=:9867") {
				t.Errorf("args %v, want both listeners on their ports", c.Args)
			}
			if !strings.HasPrefix(c.Image, "ghcr.io/orphansweep/orphans-exporter:v") {
				t.Errorf("image %q, want the released exporter image with a version tag", c.Image)
			}
			if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
				t.Error("the exporter needs its ServiceAccount token")
			}
		})
	}
}

// The Service, NetworkPolicy and ServiceMonitor all find the exporter's pods
// and its named port, and the NetworkPolicy admits nothing else.
func TestServiceNetworkPolicyAndServiceMonitor(t *testing.T) {
	base := renderedObjects(t, "deploy/base")
	d := renderedDeployment(t, "deploy/base")
	podLabels := labels.Set(d.Spec.Template.Labels)

	for _, o := range append(base, renderedObjects(t, "deploy/prometheus")...) {
		l := o.GetLabels()
		if l["app.kubernetes.io/name"] == "" || l["app.kubernetes.io/part-of"] != "orphans" {
			t.Errorf("%s/%s labels %v: want app.kubernetes.io/name and part-of=orphans", o.GetKind(), o.GetName(), l)
		}
	}

	var svc corev1.Service
	convert(t, find(t, base, "Service", "orphans-exporter"), &svc)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].Port != 9866 || svc.Spec.Ports[0].TargetPort.String() != "metrics" ||
		svc.Spec.Ports[1].Name != "api" || svc.Spec.Ports[1].Port != 9867 || svc.Spec.Ports[1].TargetPort.String() != "api" {
		t.Errorf("Service ports %+v, want metrics 9866 -> metrics and api 9867 -> api (the proxy name http:orphans-exporter:api depends on it)", svc.Spec.Ports)
	}

	var np networkingv1.NetworkPolicy
	convert(t, find(t, base, "NetworkPolicy", "orphans-exporter"), &np)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the pods %v (%v)", np.Spec.PodSelector, podLabels, err)
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policyTypes %v, want [Ingress]", np.Spec.PolicyTypes)
	}
	// Each port admits one source: the tokens never reach the monitoring
	// namespace, the metrics never need the control plane.
	sources := map[string]string{}
	for i, rule := range np.Spec.Ingress {
		if len(rule.Ports) != 1 || rule.Ports[0].Port == nil {
			t.Errorf("ingress[%d] ports %+v, want one named port", i, rule.Ports)
			continue
		}
		port := rule.Ports[0].Port.String()
		if len(rule.From) == 0 {
			t.Errorf("ingress[%d] admits every source", i)
		}
		for _, peer := range rule.From {
			if peer.NamespaceSelector == nil || peer.PodSelector != nil || peer.IPBlock != nil || len(peer.NamespaceSelector.MatchLabels) != 1 {
				t.Errorf("ingress[%d] peer %+v, want one namespace by name", i, peer)
				continue
			}
			sources[peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]] += port
		}
	}
	if len(sources) != 2 || sources["monitoring"] != "metrics" || sources["kube-system"] != "api" {
		t.Errorf("NetworkPolicy admits %v, want the monitoring namespace to port metrics only and the API server's tunnel (kube-system) to port api only", sources)
	}

	sm := find(t, renderedObjects(t, "deploy/prometheus"), "ServiceMonitor", "orphans-exporter")
	smSel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(smSel) == 0 || !labels.SelectorFromSet(smSel).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service %v", smSel, svc.Labels)
	}
	nsNames, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if len(nsNames) != 1 || nsNames[0] != systemNamespace {
		t.Errorf("ServiceMonitor namespaceSelector %v, want [%s]", nsNames, systemNamespace)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != "metrics" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v, want port metrics path /metrics", ep)
	}
	if hl, ok := ep["honorLabels"].(bool); !ok || hl {
		t.Errorf("ServiceMonitor honorLabels %v: want an explicit false (see the comment in servicemonitor.yaml)", ep["honorLabels"])
	}
}
