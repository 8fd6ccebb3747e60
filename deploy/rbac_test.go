//go:build integration

package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// The proxy resource names `kubectl orphans` uses. The API server authorizes
// GET /api/v1/namespaces/NS/services/NAME/proxy/... as verb get on
// services/proxy with the resource name NAME, the URL segment verbatim
// (k8s.io/apiserver's RequestInfoFactory takes Parts[1] as the name; the
// service REST's ResourceLocation then splits it into scheme:service:port).
// Only the API port: the operator reads tokens, never needs the metrics.
var operatorProxyNames = []string{"http:orphans-exporter:api", "https:orphans-exporter:api"}

// Exactly the permissions the two roles may hold.
var (
	wantExporterRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		// What a reclaim would destroy, read for candidates only.
		{APIGroups: []string{""}, Resources: []string{"pods", "persistentvolumeclaims", "services", "configmaps", "serviceaccounts"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets", "deployments"}, Verbs: []string{"list"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"list"}},
	}
	wantOperatorRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services/proxy"}, ResourceNames: operatorProxyNames, Verbs: []string{"get"}},
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"kube-system"}, Verbs: []string{"get"}},
	}
	// The operator's Events, a Role in namespace default.
	wantOperatorEventRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
	}
	// --web.auth=kubernetes (the web-auth component): the exporter asks the
	// API server about each scrape, and Prometheus may get /metrics.
	wantExporterAuthRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
	wantMetricsReaderRules = []rbacv1.PolicyRule{
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
	}
)

// The cluster roles the exporter's ServiceAccount may be bound to.
var exporterRoles = []string{"orphans-exporter", "orphans-exporter-auth"}

// The rendered RBAC, read as the API server would, grants the exporter only
// get/list/watch on namespaces and the operator role only its two rules, in
// every kustomization (reclaim included: turning reclaim on changes no
// permission).
func TestRenderedRBACIsLeastPrivilege(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			checkRBAC(t, renderedObjects(t, dir))
		})
	}

	// The checks can fail: a role that also deletes, and a binding that hands
	// the exporter another role, are both caught.
	t.Run("a delete verb is caught", func(t *testing.T) {
		objs := cloneAll(renderedObjects(t, "deploy/base"))
		role := find(t, objs, "ClusterRole", "orphans-exporter")
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		rules[0].(map[string]any)["verbs"] = []any{"get", "list", "watch", "delete"}
		_ = unstructured.SetNestedSlice(role.Object, rules, "rules")
		if errs := rbacViolations(t, objs); len(errs) == 0 {
			t.Fatal("an exporter role with delete passed")
		}
	})
	t.Run("a second role for the exporter is caught", func(t *testing.T) {
		objs := cloneAll(renderedObjects(t, "deploy/base"))
		extra := find(t, objs, "ClusterRoleBinding", "orphans-exporter").DeepCopy()
		extra.SetName("orphans-exporter-extra")
		_ = unstructured.SetNestedField(extra.Object, "orphans-operator", "roleRef", "name")
		if errs := rbacViolations(t, append(objs, extra)); len(errs) == 0 {
			t.Fatal("the exporter bound to the operator role passed")
		}
	})
}

func cloneAll(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

func checkRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, e := range rbacViolations(t, objs) {
		t.Error(e)
	}
}

func rbacViolations(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var errs []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole", "Role":
			var role rbacv1.ClusterRole
			convert(t, o, &role)
			if role.AggregationRule != nil {
				errs = append(errs, o.GetKind()+"/"+o.GetName()+": aggregates other roles")
			}
			for _, r := range role.Rules {
				for _, v := range r.Verbs {
					if v == "*" || v == "delete" || v == "deletecollection" {
						errs = append(errs, o.GetKind()+"/"+o.GetName()+": verb "+v)
					}
				}
				if slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") || slices.Contains(r.NonResourceURLs, "*") {
					errs = append(errs, o.GetKind()+"/"+o.GetName()+": wildcard rule")
				}
			}
			want := map[string][]rbacv1.PolicyRule{
				"orphans-exporter": wantExporterRules, "orphans-operator": wantOperatorRules,
				"orphans-exporter-auth": wantExporterAuthRules, "orphans-metrics-reader": wantMetricsReaderRules,
			}[o.GetName()]
			if o.GetKind() == "Role" && o.GetName() == "orphans-operator-events" && o.GetNamespace() == "default" {
				want = wantOperatorEventRules
			} else if o.GetKind() != "ClusterRole" {
				want = nil
			}
			if want == nil {
				errs = append(errs, o.GetKind()+"/"+o.GetName()+": a role nobody reviewed")
				continue
			}
			if !sameRules(role.Rules, want) {
				errs = append(errs, o.GetName()+": rules "+jsonString(role.Rules)+", want exactly "+jsonString(want))
			}
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.ClusterRoleBinding
			convert(t, o, &b)
			for _, s := range b.Subjects {
				if s.Kind == "ServiceAccount" && s.Name == "orphans-exporter" &&
					(b.RoleRef.Kind != "ClusterRole" || !slices.Contains(exporterRoles, b.RoleRef.Name)) {
					errs = append(errs, o.GetKind()+"/"+o.GetName()+": binds the exporter to "+b.RoleRef.Kind+"/"+b.RoleRef.Name)
				}
			}
			if slices.Contains(exporterRoles, b.RoleRef.Name) {
				if o.GetKind() != "ClusterRoleBinding" || len(b.Subjects) != 1 ||
					b.Subjects[0] != (rbacv1.Subject{Kind: "ServiceAccount", Name: "orphans-exporter", Namespace: systemNamespace}) {
					errs = append(errs, o.GetKind()+"/"+o.GetName()+": the exporter role goes to "+jsonString(b.Subjects))
				}
			}
			if b.RoleRef.Name == "orphans-operator" || b.RoleRef.Name == "orphans-operator-events" {
				// Who operates is the adopter's decision, not a default.
				errs = append(errs, o.GetKind()+"/"+o.GetName()+": binds the operator role by default")
			}
		}
	}
	return errs
}

// sameRules compares rules ignoring the order of rules and of list items.
func sameRules(got, want []rbacv1.PolicyRule) bool {
	norm := func(rules []rbacv1.PolicyRule) []string {
		var out []string
		for _, r := range rules {
			r = *r.DeepCopy()
			for _, l := range [][]string{r.APIGroups, r.Resources, r.ResourceNames, r.Verbs, r.NonResourceURLs} {
				slices.Sort(l)
			}
			out = append(out, jsonString(r))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(got), norm(want))
}

func convert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A person bound only to the rendered operator roles (the orphans-operator
// ClusterRole and the Events Role) can reach the exporter through the
// service proxy path the plugin uses, read kube-system, record Events in
// default, and nothing else.
func TestOperatorRoleOnAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp := controlPlane(t)
	admin, err := cp.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	base := renderedObjects(t, "deploy/base")
	applyForReal(t, adminKubeconfig(t, cp),
		find(t, base, "Namespace", systemNamespace),
		find(t, base, "ClusterRole", "orphans-operator"),
		find(t, base, "Service", "orphans-exporter"),
		find(t, renderedObjects(t, "deploy/operator-events"), "Role", "orphans-operator-events"))
	// A neighbour with the same port name, which the role must not open.
	other := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "orphans-neighbour", Namespace: systemNamespace},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "api", Port: 9867, TargetPort: intstr.FromString("api")}}},
	}
	if _, err := admin.CoreV1().Services(systemNamespace).Create(ctx, other, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	// A fresh user per run, so -count=N starts each run unbound.
	user := fmt.Sprintf("operator-olga-%d", time.Now().UnixNano())
	u, err := cp.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	olga, err := kubernetes.NewForConfig(u.Config())
	if err != nil {
		t.Fatal(err)
	}
	proxyGet := func(name string) (int, error) {
		var code int
		err := olga.CoreV1().RESTClient().Get().
			Namespace(systemNamespace).Resource("services").Name(name).SubResource("proxy").Suffix("candidates").
			Do(ctx).StatusCode(&code).Error()
		return code, err
	}

	// Before the binding the path is closed: what opens it below is the role.
	if code, err := proxyGet(operatorProxyNames[0]); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user through the proxy: %d %v, want 403", code, err)
	}
	if _, err := olga.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user gets kube-system: %v, want 403", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "orphans-operator"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Event Role is bound as deploy/operator-events tells an operator to.
	eventsBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: "default"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "orphans-operator-events"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, eventsBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	event := func(namespace string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "orphans-rbac-", Namespace: namespace},
			InvolvedObject: corev1.ObjectReference{Kind: "Namespace", APIVersion: "v1", Name: "instant-customer-rbac"},
			Reason:         "OrphanReclaimRequested", Message: "rbac review", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "kubectl-orphans"},
		}
	}
	// eventually retries while the authorizer's cache learns of the bindings.
	eventually := func(t *testing.T, do func() error) error {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := do()
			if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Run("get the kube-system namespace is authorized", func(t *testing.T) {
		err := eventually(t, func() error {
			ns, err := olga.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			if err == nil && ns.UID == "" {
				return fmt.Errorf("kube-system without a UID")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("create an event in default is authorized", func(t *testing.T) {
		if err := eventually(t, func() error {
			_, err := olga.CoreV1().Events("default").Create(ctx, event("default"), metav1.CreateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})

	for _, name := range operatorProxyNames {
		t.Run("proxy "+name+" is authorized", func(t *testing.T) {
			// RBAC changes reach the authorizer's cache shortly after they are written.
			var code int
			var err error
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, err = proxyGet(name)
				if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			// There is no exporter pod behind the Service (no controllers run
			// here), so the proxy itself answers 503 after authorization.
			if code != http.StatusServiceUnavailable || !strings.Contains(errString(err), "no endpoints available") {
				t.Fatalf("GET through %s: %d %v; want the proxy's 503 (authorized, no endpoints)", name, code, err)
			}
		})
	}

	forbidden := map[string]func() error{
		"proxy to another service":  func() error { _, err := proxyGet("http:orphans-neighbour:api"); return err },
		"proxy by port number":      func() error { _, err := proxyGet("http:orphans-exporter:9867"); return err },
		"proxy without scheme":      func() error { _, err := proxyGet("orphans-exporter:api"); return err },
		"proxy to the metrics port": func() error { _, err := proxyGet("http:orphans-exporter:metrics"); return err },
		"list namespaces": func() error {
			_, err := olga.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		},
		"get a namespace other than kube-system": func() error {
			_, err := olga.CoreV1().Namespaces().Get(ctx, systemNamespace, metav1.GetOptions{})
			return err
		},
		"create an event outside default": func() error {
			_, err := olga.CoreV1().Events(systemNamespace).Create(ctx, event(systemNamespace), metav1.CreateOptions{})
			return err
		},
		"list events": func() error {
			_, err := olga.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
			return err
		},
		"delete an event": func() error {
			return olga.CoreV1().Events("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		},
		"get the service": func() error {
			_, err := olga.CoreV1().Services(systemNamespace).Get(ctx, "orphans-exporter", metav1.GetOptions{})
			return err
		},
	}
	for what, do := range forbidden {
		t.Run(what+" is forbidden", func(t *testing.T) {
			if err := do(); !apierrors.IsForbidden(err) {
				t.Fatalf("%v, want 403", err)
			}
		})
	}

	t.Run("selfsubjectreview", func(t *testing.T) {
		r, err := olga.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.UserInfo.Username != user {
			t.Fatalf("username %q, want %q", r.Status.UserInfo.Username, user)
		}
	})

	// Every authenticated user also holds system:basic-user, which includes
	// selfsubjectreviews on a default cluster. Asking the authorizer about the
	// user without its groups shows the roles themselves grant every permission,
	// so `kubectl orphans` keeps working where basic-user has been trimmed.
	t.Run("the roles alone grant what the plugin needs", func(t *testing.T) {
		for _, attrs := range []authorizationv1.ResourceAttributes{
			{Namespace: systemNamespace, Verb: "get", Resource: "services", Subresource: "proxy", Name: operatorProxyNames[0]},
			{Namespace: systemNamespace, Verb: "get", Resource: "services", Subresource: "proxy", Name: operatorProxyNames[1]},
			{Verb: "create", Group: "authentication.k8s.io", Resource: "selfsubjectreviews"},
			{Verb: "get", Resource: "namespaces", Name: "kube-system"},
			{Namespace: "default", Verb: "create", Resource: "events"},
		} {
			sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &attrs},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !sar.Status.Allowed {
				t.Errorf("%+v not allowed by the role alone: %s", attrs, sar.Status.Reason)
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
