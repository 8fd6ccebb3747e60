//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
	"github.com/orphansweep/orphans/internal/plugin"
	"github.com/orphansweep/orphans/internal/testenv"
)

// The deployment's defaults, which the plugin's defaults must match.
const (
	exporterNamespace = "orphans-system"
	exporterService   = "orphans-exporter"
	proxyName         = "http:orphans-exporter:api"
)

// exposeExporter publishes the exporter's API listener at ip:port as the
// Service orphans-system/orphans-exporter, as a Deployment would: a Pod with
// that IP, a selector-less Service with a port named api, and an EndpointSlice
// (what the API server's service proxy reads) pointing at the Pod. It also
// gives the operators' group the Role docs/plugin.md asks for.
func exposeExporter(t *testing.T, ip string, port int) {
	t.Helper()
	ctx := context.Background()
	core := bed.admin.CoreV1()
	create := func(err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	_, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: exporterNamespace}}, metav1.CreateOptions{})
	create(err)
	pod, err := core.Pods(exporterNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphans-exporter-0", Labels: map[string]string{"app.kubernetes.io/name": "orphans-exporter"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter", Image: "orphans-exporter:e2e"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No kubelet runs here; the test reports the Pod's address itself.
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if _, err := core.Pods(exporterNamespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = core.Services(exporterNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: exporterService},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "api", Port: 9867, TargetPort: intstr.FromInt32(int32(port)), Protocol: corev1.ProtocolTCP,
		}}},
	}, metav1.CreateOptions{})
	create(err)
	_, err = bed.admin.DiscoveryV1().EndpointSlices(exporterNamespace).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: exporterService + "-e2e", Labels: map[string]string{
			discoveryv1.LabelServiceName: exporterService, discoveryv1.LabelManagedBy: "orphans-e2e",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: exporterNamespace, Name: pod.Name, UID: pod.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("api"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{})
	create(err)
	rbac := bed.admin.RbacV1()
	_, err = rbac.Roles(exporterNamespace).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "orphans-operator"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"services/proxy"}, Verbs: []string{"get"},
			ResourceNames: []string{"http:orphans-exporter:api", "https:orphans-exporter:api"},
		}},
	}, metav1.CreateOptions{})
	create(err)
	_, err = rbac.RoleBindings(exporterNamespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "orphans-operators"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "orphans-operator"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "orphans-operators"}},
	}, metav1.CreateOptions{})
	create(err)

	// The API server learns of the EndpointSlice through an informer: wait
	// until it proxies.
	rc := bed.admin.CoreV1().RESTClient()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	err = testenv.WaitFor(wctx, func() (bool, error) {
		_, last = rc.Get().Namespace(exporterNamespace).Resource("services").Name(proxyName).SubResource("proxy").Suffix("candidates").DoRaw(wctx)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("the API server does not proxy to the exporter: %v (last: %v)", err, last)
	}
}

func TestServiceProxy(t *testing.T) {
	grantPlanRBAC(t)
	n := newNetns(t)
	apiURL, err := url.Parse(bed.cp.Admin.Host)
	if err != nil {
		t.Fatal(err)
	}
	apiPort, _ := strconv.Atoi(apiURL.Port())
	n.relay(t, apiPort)
	n.relay(t, bed.pg.Port)

	s := newScope(t)
	redis, redisTok := s.tenant()
	noRow, noRowTok := s.tenant()
	s.rows(testenv.Row{Token: redisTok, Status: "expired", ResourceType: "redis"})
	e := s.startExporter(exporterOptions{enabled: true, destructive: true, netns: n})
	e.waitCandidates(t, "two candidates", func(code int, doc api.Candidates) bool {
		return code == http.StatusOK && len(doc.Candidates) == 2 && byNamespace(doc)[redis].Reclaimable
	})
	u, _ := url.Parse(e.URL)
	port, _ := strconv.Atoi(u.Port())
	exposeExporter(t, n.nsIP, port)

	// No --exporter-url: the defaults reach orphans-system/http:orphans-exporter:api.
	r := orphans(t, operator, nil, "list")
	if r.code != 0 || len(lines(r.stdout)) != 3 {
		t.Fatalf("list through the service proxy:\n%s", r)
	}
	mustNotContain(t, "the table", []string{r.stdout}, redisTok, noRowTok)
	r = orphans(t, operator, nil, "list", "-o", "json")
	var doc api.Candidates
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || len(doc.Candidates) != 2 || byNamespace(doc)[noRow].Token != noRowTok {
		t.Fatalf("json through the service proxy:\n%s", r)
	}
	// The explicit flags name the same thing.
	r = orphans(t, operator, nil, "list", "-o", "name", "--exporter-namespace="+exporterNamespace, "--exporter-service="+exporterService, "--exporter-port=api")
	if r.code != 0 || len(lines(r.stdout)) != 2 {
		t.Fatal(r)
	}

	// The API server really proxied the operator's requests, and RBAC governs them.
	evs, err := bed.cp.AuditEvents(func(ev testenv.AuditEvent) bool {
		return ev.User.Username == operator && ev.Stage == "ResponseComplete" && ev.ObjectRef != nil &&
			ev.ObjectRef.Resource == "services" && ev.ObjectRef.Name == proxyName && ev.ObjectRef.Namespace == exporterNamespace &&
			ev.ResponseStatus != nil && ev.ResponseStatus.Code == http.StatusOK
	})
	if err != nil || len(evs) < 3 {
		t.Fatalf("%d proxied requests by %s in the audit log (err %v)", len(evs), operator, err)
	}
	if !strings.HasPrefix(evs[0].UserAgent, "kubectl-orphans/"+testVersion) {
		t.Fatalf("user agent %q", evs[0].UserAgent)
	}
	r = orphans(t, outsider, nil, "list")
	if r.code == 0 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "services/proxy") {
		t.Fatalf("a user without the Role:\n%s", r)
	}
	// A Service that does not exist is named in the error.
	r = orphans(t, operator, nil, "list", "--exporter-service=nope")
	if r.code == 0 || !strings.Contains(r.stderr, "http:nope:api") {
		t.Fatalf("missing service:\n%s", r)
	}

	// Reclaim through the proxy: the fresh check goes the same way.
	secret := "proxy-e2e-secret-" + uuid.NewString()
	dp := deprovisiontest.New(t, secret, operator)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	r = orphans(t, operator, []string{plugin.EnvDeprovisionURL + "=" + dp.URL}, append([]string{"reclaim", redis, noRow,
		"--reason=" + reason, "--yes", "--deprovision-token-file=" + tokenFile}, lowFloors...)...)
	mustNotContain(t, "reclaim output", []string{r.stdout, r.stderr}, secret, redisTok, noRowTok)
	if r.code != 0 || !strings.Contains(r.stderr, "1 reclaimed, 1 skipped.") {
		t.Fatalf("reclaim through the service proxy:\n%s", r)
	}
	got := dp.Requests()
	if len(got) != 1 || got[0].Body.ProviderResourceID != redis || got[0].Body.Actor != operator || len(dp.Violations()) > 0 {
		t.Fatalf("requests %+v", got)
	}
	fresh, err := bed.cp.AuditEvents(func(ev testenv.AuditEvent) bool {
		return ev.User.Username == operator && ev.Stage == "ResponseComplete" && ev.ObjectRef != nil &&
			ev.ObjectRef.Name == proxyName && strings.HasSuffix(ev.RequestURI, "/proxy/candidates/"+redis)
	})
	if err != nil || len(fresh) != 1 {
		t.Fatalf("fresh checks of %s through the proxy: %d (err %v)", redis, len(fresh), err)
	}

	// Completion through the proxy.
	r = kubectl(t, "", nil, "__complete", "orphans", "reclaim", "--kubeconfig="+bed.kubeconfig[operator], "")
	if r.code != 0 || !strings.HasPrefix(r.stdout, redis+"\t") || !strings.Contains(r.stdout, noRow+"\t") {
		t.Fatalf("completion through the service proxy:\n%s", r)
	}
}
