package transport

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://platform.example":          true,
		"http://127.0.0.1:8080/base":        true,
		"":                                  false,
		"platform.example":                  false,
		"localhost:9866":                    false,
		"ftp://platform.example":            false,
		"https://":                          false,
		"https://user:pw@platform.example":  false,
		"https://platform.example/?token=x": false,
		"https://platform.example/#frag":    false,
		"https://%zz":                       false,
		"https://user:pw@%zz":               false,
	} {
		_, err := ParseURL(raw)
		if (err == nil) != ok {
			t.Errorf("ParseURL(%q) err = %v", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("ParseURL(%q) error shows user information: %v", raw, err)
		}
	}
	if _, err := ParseURL("https://u:p@host"); !errors.Is(err, ErrUserInfo) {
		t.Fatalf("user information: %v", err)
	}
}

func TestRequireTLS(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://platform.example":  true,
		"https://10.0.0.1":          true,
		"http://127.0.0.1:8080":     true,
		"http://127.9.9.9":          true,
		"http://[::1]:80":           true,
		"http://localhost:9866":     true,
		"http://LOCALHOST":          true,
		"http://platform.example":   false,
		"http://10.0.0.1:9866":      false,
		"http://localhost.evil.com": false,
		"http://0.0.0.0":            false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := RequireTLS(u); (err == nil) != ok {
			t.Errorf("RequireTLS(%s) = %v", raw, err)
		}
	}
}

func TestHTTPTransport(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := HTTPTransport(TLSFiles{CAFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing CA file accepted")
	}
	if _, err := HTTPTransport(TLSFiles{CAFile: notPEM}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without a certificate: %v", err)
	}
	if _, err := HTTPTransport(TLSFiles{CertFile: notPEM, KeyFile: notPEM}); err == nil {
		t.Error("bad client certificate accepted")
	}
	tr, err := HTTPTransport(TLSFiles{InsecureSkipVerify: true})
	if err != nil || !tr.TLSClientConfig.InsecureSkipVerify || tr.Proxy == nil {
		t.Fatalf("transport %+v, %v", tr, err)
	}
}
