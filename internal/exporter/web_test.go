//go:build integration

package exporter

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// TestTwoListenersWebConfigs serves each listener through its own
// exporter-toolkit web config: the metrics listener with TLS and basic auth
// for Prometheus, the API listener with TLS and other credentials. The
// probes answer without credentials, each path answers on its own listener
// only, and one listener's credentials do not open the other.
func TestTwoListenersWebConfigs(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	webConfig := func(name, user, password string) string {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", certFile, keyFile, user, hash), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := testConfig(t, exporterUser(t, "exporter-web-configs"), enabledEnv(),
		"--web.config.file="+webConfig("metrics.yml", "prometheus", "s3cret"),
		"--api.web-config.file="+webConfig("api.yml", "plugin", "other"))
	e, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; e.Close() })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	// A fresh check may take up to --sweep.timeout.
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	metricsURL := "https://" + (*cfg.Web.Metrics.WebListenAddresses)[0]
	apiURL := "https://" + (*cfg.Web.API.WebListenAddresses)[0]
	get := func(url, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("GET %s: %v", url, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := testenv.WaitFor(wctx, func() (bool, error) { return get(metricsURL+"/readyz", "", "") == http.StatusOK, nil }); err != nil {
		t.Fatalf("/readyz without credentials never answered 200: %v", err)
	}
	for _, tc := range []struct {
		url, user, pass string
		want            int
	}{
		// The kubelet probes with no credentials at all.
		{metricsURL + "/healthz", "", "", http.StatusOK},
		{metricsURL + "/livez", "", "", http.StatusOK},
		{metricsURL + "/readyz", "", "", http.StatusOK},
		{metricsURL + "/metrics", "", "", http.StatusUnauthorized},
		{metricsURL + "/metrics", "prometheus", "wrong", http.StatusUnauthorized},
		{metricsURL + "/metrics", "plugin", "other", http.StatusUnauthorized},
		{metricsURL + "/metrics", "prometheus", "s3cret", http.StatusOK},
		{metricsURL + "/", "", "", http.StatusUnauthorized},
		// No token is served with the metrics, whoever asks.
		{metricsURL + "/candidates", "prometheus", "s3cret", http.StatusNotFound},
		{metricsURL + "/candidates/" + prefix + tRedisDel, "prometheus", "s3cret", http.StatusNotFound},
		{metricsURL + "/ghosts", "prometheus", "s3cret", http.StatusNotFound},
		{apiURL + "/candidates", "", "", http.StatusUnauthorized},
		{apiURL + "/candidates", "prometheus", "s3cret", http.StatusUnauthorized},
		{apiURL + "/candidates", "plugin", "other", http.StatusOK},
		{apiURL + "/candidates/" + prefix + tRedisDel, "plugin", "other", http.StatusOK},
		{apiURL + "/ghosts", "plugin", "other", http.StatusOK},
		// Neither metrics nor probes on the API listener.
		{apiURL + "/metrics", "plugin", "other", http.StatusNotFound},
		{apiURL + "/healthz", "", "", http.StatusUnauthorized},
		{apiURL + "/readyz", "plugin", "other", http.StatusNotFound},
	} {
		if got := get(tc.url, tc.user, tc.pass); got != tc.want {
			t.Errorf("GET %s as %q: %d, want %d", tc.url, tc.user, got, tc.want)
		}
	}
	// Plain HTTP on a TLS port serves nothing, probes included.
	for _, url := range []string{"http://" + (*cfg.Web.Metrics.WebListenAddresses)[0] + "/healthz", "http://" + (*cfg.Web.API.WebListenAddresses)[0] + "/candidates"} {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("plain HTTP served %s on a TLS port", url)
			}
		}
	}
}

func TestNamespaceSelector(t *testing.T) {
	ctx := context.Background()
	const sp = "sel-customer-"
	for name, labels := range map[string]map[string]string{
		sp + "gold":  {"tier": "gold"},
		sp + "plain": nil,
	} {
		if _, err := createNamespace(ctx, name, labels); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(fleetGrace)
	r := start(t, testConfig(t, exporterUser(t, "exporter-selector"), enabledEnv(), "--namespace.prefix="+sp, "--namespace.selector=tier=gold"))
	var doc api.Candidates
	r.getJSON(t, "/candidates", &doc)
	if len(doc.Candidates) != 1 || doc.Candidates[0].Namespace != sp+"gold" || doc.Sweep.NamespacesInScope != 1 {
		t.Fatalf("with --namespace.selector=tier=gold: %+v", doc)
	}
	var nc api.NotCandidate
	if code := r.getJSON(t, "/candidates/"+sp+"plain", &nc); code != http.StatusNotFound || nc.Why != api.WhyOutOfScope {
		t.Fatalf("fresh check of an unselected namespace: %d %+v", code, nc)
	}
	keep(t, sp+"gold")
	keep(t, sp+"plain")
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "orphans-exporter"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
