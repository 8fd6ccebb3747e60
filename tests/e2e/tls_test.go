//go:build integration

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
	"github.com/orphansweep/orphans/internal/plugin"
	"github.com/orphansweep/orphans/internal/testenv"
)

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// issue makes a certificate signed by parent (self-signed when parent is nil).
func issue(t *testing.T, parent *keyPair, tmpl *x509.Certificate) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signCert := key, tmpl
	if parent != nil {
		signer, signCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &keyPair{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (k *keyPair) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, k.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// --exporter-url with the TLS and basic-auth flags, against the real
// exporter serving through its exporter-toolkit web config: server TLS,
// required client certificates and a bcrypt basic-auth user.
func TestExporterURLWithTLSAndBasicAuth(t *testing.T) {
	grantPlanRBAC(t)
	dir := t.TempDir()
	ca := issue(t, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "orphans e2e CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	server := issue(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: "orphans-exporter"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	client := issue(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: "operator"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	caFile, _ := ca.write(t, dir, "ca")
	serverCert, serverKey := server.write(t, dir, "server")
	clientCert, clientKey := client.write(t, dir, "client")

	const user = "operator"
	password := "pw-" + strings.Repeat("x", 8) + time.Now().Format("150405.000000")
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n"+
		"  cert_file: "+serverCert+"\n  key_file: "+serverKey+"\n"+
		"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: "+caFile+"\n"+
		"basic_auth_users:\n  "+user+": "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}

	s := newScope(t)
	ns, tok := s.tenant()
	s.rows(testenv.Row{Token: tok, Status: "reaped", ResourceType: "redis"})
	e := s.startExporter(exporterOptions{enabled: true, destructive: true, webConfig: webConfig, client: hc, user: user, password: password})
	e.waitCandidates(t, "one reclaimable candidate", func(code int, doc api.Candidates) bool {
		return code == http.StatusOK && len(doc.Candidates) == 1 && doc.Candidates[0].Reclaimable
	})
	if !strings.HasPrefix(e.URL, "https://") {
		t.Fatalf("exporter URL %s", e.URL)
	}

	tlsFlags := []string{"--exporter-url=" + e.URL, "--exporter-ca-file=" + caFile,
		"--exporter-cert-file=" + clientCert, "--exporter-key-file=" + clientKey, "--exporter-username=" + user}
	r := orphans(t, operator, nil, append([]string{"list", "-o", "name", "--exporter-password-file=" + pwFile}, tlsFlags...)...)
	if r.code != 0 || r.stdout != "namespace/"+ns+"\n" {
		t.Fatalf("password file:\n%s", r)
	}
	r = orphans(t, operator, []string{plugin.EnvExporterPassword + "=" + password}, append([]string{"list", "-o", "name"}, tlsFlags...)...)
	if r.code != 0 || r.stdout != "namespace/"+ns+"\n" {
		t.Fatalf("password from the environment:\n%s", r)
	}

	// Each missing piece is refused by the exporter, and said so.
	wrongPw := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrongPw, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"wrong password": {append([]string{"--exporter-password-file=" + wrongPw}, tlsFlags...), "401"},
		"no client certificate": {[]string{"--exporter-url=" + e.URL, "--exporter-ca-file=" + caFile,
			"--exporter-username=" + user, "--exporter-password-file=" + pwFile}, "reach the exporter"},
		"unknown CA": {[]string{"--exporter-url=" + e.URL, "--exporter-cert-file=" + clientCert, "--exporter-key-file=" + clientKey,
			"--exporter-username=" + user, "--exporter-password-file=" + pwFile}, "certificate"},
	} {
		r := orphans(t, operator, nil, append([]string{"list"}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: want an error saying %q:\n%s", name, tc.want, r)
		}
		mustNotContain(t, name, []string{r.stdout, r.stderr}, password)
	}

	// Reclaim's fresh check goes the same authenticated way.
	secret := "tls-e2e-secret-" + tok[:8]
	dp := deprovisiontest.New(t, secret, operator)
	r = orphans(t, operator, []string{plugin.EnvDeprovisionURL + "=" + dp.URL, plugin.EnvDeprovisionToken + "=" + secret},
		append(append([]string{"reclaim", ns, "--reason=" + reason, "--yes", "--exporter-password-file=" + pwFile}, tlsFlags...), lowFloors...)...)
	if r.code != 0 || len(dp.Requests()) != 1 {
		t.Fatalf("reclaim through the TLS exporter:\n%s", r)
	}
	mustNotContain(t, "outputs", []string{r.stdout, r.stderr, e.log.String()}, password, secret, tok)
}
