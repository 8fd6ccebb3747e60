package plugin

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
}

// newFakeCluster starts the fake API server over TLS and writes a
// kubeconfig for it that trusts its certificate. insecure writes
// insecure-skip-tls-verify instead.
func newFakeCluster(t *testing.T, insecure bool) *fakeCluster {
	t.Helper()
	c := &fakeCluster{}
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

const proxyPrefix = "/api/v1/namespaces/orphans-system/services/http:orphans-exporter:http/proxy"

func (c *fakeCluster) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","status":{"userInfo":{"username":%q}}}`, testActor)
	case c.exporter != nil && strings.HasPrefix(r.URL.Path, proxyPrefix+"/"):
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, proxyPrefix)
		c.exporter.ServeHTTP(w, r2)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"not found","code":404}`)
	}
}
