package plugin

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// testContext is the kube context of the fake cluster's kubeconfig: the
// name an operator types to confirm a reclaim.
const testContext = "prod-eu-1"

// testActor is the username the fake API server reports.
const testActor = "alice@example.com"

// fakeCluster is an in-process stand-in for the API server: it answers
// SelfSubjectReviews and, when exporter is set, forwards the service-proxy
// path of the default exporter Service to it.
type fakeCluster struct {
	srv        *httptest.Server
	kubeconfig string
	exporter   http.Handler

	mu sync.Mutex
	// user is who SelfSubjectReviews say the caller is (default testActor).
	user string
	// systemUID is the UID of namespace kube-system.
	systemUID string
	// events are the Events created in namespace default.
	events []corev1.Event
	// eventsDenied makes Event writes fail with 403.
	eventsDenied bool
	// proxiedRequests counts requests forwarded to the exporter.
	proxiedRequests int
}

// proxied counts the requests the fake API server forwarded to the exporter.
func (c *fakeCluster) proxied() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proxiedRequests
}

func (c *fakeCluster) setUser(u string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.user = u
}

func (c *fakeCluster) recorded() []corev1.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// newFakeCluster starts the fake API server over TLS and writes a
// kubeconfig for it that trusts its certificate. insecure writes
// insecure-skip-tls-verify instead.
func newFakeCluster(t *testing.T, insecure bool) *fakeCluster {
	t.Helper()
	c := &fakeCluster{user: testActor, systemUID: testClusterUID}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	trust := "    certificate-authority-data: " + base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw}))
	if insecure {
		trust = "    insecure-skip-tls-verify: true"
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
%s
users:
- name: test
  user:
    token: fake-token
contexts:
- name: %s
  context:
    cluster: test
    user: test
current-context: %s
`, c.srv.URL, trust, testContext, testContext)
	c.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

const proxyPrefix = "/api/v1/namespaces/orphans-system/services/http:orphans-exporter:api/proxy"

func (c *fakeCluster) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","status":{"userInfo":{"username":%q}}}`, c.user)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/kube-system":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kube-system","uid":%q}}`, c.systemUID)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces/default/events":
		w.Header().Set("Content-Type", "application/json")
		if c.eventsDenied {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"events is forbidden","reason":"Forbidden","code":403}`)
			return
		}
		// client-go may send protobuf; the deserializer reads either.
		body, _ := io.ReadAll(r.Body)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		ev, ok := obj.(*corev1.Event)
		if err != nil || !ok {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ev.Name = fmt.Sprintf("%s%d", ev.GenerateName, len(c.events))
		c.events = append(c.events, *ev)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(ev)
	case c.exporter != nil && strings.HasPrefix(r.URL.Path, proxyPrefix+"/"):
		c.proxiedRequests++
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, proxyPrefix)
		c.exporter.ServeHTTP(w, r2)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"not found","code":404}`)
	}
}
