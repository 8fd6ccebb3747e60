//go:build integration

package deploy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Every kustomization renders and the API server (with the Prometheus
// Operator CRDs, strict field validation and the restricted Pod Security
// level the Namespace enforces) accepts every object in a server-side dry run.
func TestKustomizationsApplyServerSide(t *testing.T) {
	cp := controlPlane(t)
	kubeconfig := adminKubeconfig(t, cp)

	// Namespaced objects can only be dry-run into a namespace that exists, so
	// the rendered Namespace (with its Pod Security labels) is applied first.
	// The warn label is added here, not in the manifest: it makes the API
	// server report any pod template that would be rejected, which the
	// enforce label alone only does for bare pods.
	ns := find(t, renderedObjects(t, "deploy/base"), "Namespace", systemNamespace).DeepCopy()
	labels := ns.GetLabels()
	if labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace %s does not enforce the restricted Pod Security level: %v", systemNamespace, labels)
	}
	labels["pod-security.kubernetes.io/warn"] = "restricted"
	ns.SetLabels(labels)
	applyForReal(t, kubeconfig, ns)

	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			objs := renderedObjects(t, dir)
			if len(objs) == 0 {
				t.Fatal("rendered nothing")
			}
			// The operator's Event Role lives where the Events go.
			want := systemNamespace
			if dir == "deploy/operator-events" {
				want = "default"
			}
			for _, o := range objs {
				if o.GetKind() != "Namespace" && isNamespaced(o) && o.GetNamespace() != want {
					t.Errorf("%s/%s rendered into namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), want)
				}
			}
			stderr := dryRun(t, kubeconfig, render(t, dir))
			if strings.Contains(string(stderr), "PodSecurity") {
				t.Errorf("pod template falls short of the restricted level:\n%s", stderr)
			}
		})
	}

	// The Pod Security check above can fail: a template that may run as root
	// draws the warning from the same API server.
	t.Run("pod security warning is detected", func(t *testing.T) {
		d := find(t, renderedObjects(t, "deploy/base"), "Deployment", "orphans-exporter").DeepCopy()
		d.SetName("orphans-exporter-as-root")
		unstructured.RemoveNestedField(d.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot")
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			unstructured.RemoveNestedField(c.(map[string]any), "securityContext", "runAsNonRoot")
		}
		if err := unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			t.Fatal(err)
		}
		unstructured.RemoveNestedField(d.Object, "spec", "template", "spec", "securityContext", "runAsUser")
		stderr := dryRun(t, kubeconfig, toStream(t, d))
		if !strings.Contains(string(stderr), "PodSecurity") {
			t.Fatalf("no Pod Security warning for a template without runAsNonRoot; stderr:\n%s", stderr)
		}
	})
}

func dryRun(t *testing.T, kubeconfig string, manifests []byte) (stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdout, stderr, err := run(ctx, repoRoot(), nil, bytes.NewReader(manifests), kubectl(t),
		"apply", "--kubeconfig", kubeconfig, "--dry-run=server", "--validate=strict", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s%s", stdout, stderr)
	return stderr
}

func isNamespaced(o *unstructured.Unstructured) bool {
	switch o.GetKind() {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition":
		return false
	}
	return true
}
