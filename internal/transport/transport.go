// Package transport holds what the plugin's two HTTP clients (the exporter
// client and the deprovision client) share: checking a base URL, telling
// whether a URL's host is loopback, and building a TLS transport from PEM
// files.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// ErrUserInfo is the error ParseURL wraps for a URL that carries user
// information: callers add where the credential belongs instead.
var ErrUserInfo = errors.New("must not carry user information")

// ParseURL checks a base URL: http or https, a host, and no user
// information, query or fragment (a credential must never travel in a URL).
// Errors show the URL redacted.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole input, user information included.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("%q has no host", u.Redacted())
	case u.User != nil:
		return nil, ErrUserInfo
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q must not have a query or fragment", u.Redacted())
	}
	return u, nil
}

// IsLoopback reports whether host (a URL's Hostname()) names this machine:
// "localhost" or a loopback address. Traffic to it never crosses a network.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequireTLS refuses a plain-http URL whose host is not loopback: anything
// on the network between us and it could read or rewrite the exchange.
func RequireTLS(u *url.URL) error {
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return fmt.Errorf("%q is plain http to a host that is not loopback; use https", u.Redacted())
	}
	return nil
}

// TLSFiles name the PEM files of a TLS client.
type TLSFiles struct {
	// CAFile, when set, is the only CA trusted for the server's certificate.
	CAFile string
	// CertFile and KeyFile are the client certificate, when one is needed.
	CertFile, KeyFile string
	// InsecureSkipVerify turns certificate verification off.
	InsecureSkipVerify bool
}

// HTTPTransport returns a clone of http.DefaultTransport (proxy settings,
// timeouts) that uses f for TLS.
func HTTPTransport(f TLSFiles) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipVerify}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", f.CAFile)
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	return t, nil
}
