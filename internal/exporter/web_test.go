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

// TestWebConfigTLSAndBasicAuth serves through exporter-toolkit's web config:
// TLS on, and every endpoint behind basic auth.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", certFile, keyFile, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "", map[string]string{}, "--web.config.file="+webCfg)
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
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + (*cfg.Web.WebListenAddresses)[0]
	get := func(path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := testenv.WaitFor(wctx, func() (bool, error) { return get("/healthz", "prometheus", "s3cret") == http.StatusOK, nil }); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/metrics", "/candidates", "/candidates/" + prefix + tRedisDel, "/healthz"} {
		if code := get(path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, code)
		}
		if code := get(path, "prometheus", "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", path, code)
		}
	}
	if code := get("/metrics", "prometheus", "s3cret"); code != http.StatusOK {
		t.Errorf("/metrics with credentials: %d", code)
	}
	// plain HTTP on a TLS port is refused
	if resp, err := http.Get("http://" + (*cfg.Web.WebListenAddresses)[0] + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served metrics on the TLS port")
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
