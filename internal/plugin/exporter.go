package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/orphansweep/orphans/internal/api"
)

// EnvExporterPassword holds the exporter's basic-auth password when
// --exporter-password-file is not given. Secrets are never flag values.
const EnvExporterPassword = "ORPHANS_EXPORTER_PASSWORD"

// ExporterFlags say how to reach the exporter: through the API server's
// service proxy (the default, so Kubernetes RBAC governs access) or directly
// at --exporter-url.
type ExporterFlags struct {
	Namespace string
	Service   string
	Port      string
	TLS       bool

	URL                   string
	CAFile                string
	CertFile              string
	KeyFile               string
	InsecureSkipTLSVerify bool
	Username              string
	PasswordFile          string

	Timeout time.Duration
}

// NewExporterFlags returns the defaults.
func NewExporterFlags() *ExporterFlags {
	return &ExporterFlags{Namespace: "orphans-system", Service: "orphans-exporter", Port: "http", Timeout: 30 * time.Second}
}

// AddFlags registers the flags on fs.
func (f *ExporterFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Namespace, "exporter-namespace", f.Namespace, "Namespace of the exporter's Service (service-proxy access).")
	fs.StringVar(&f.Service, "exporter-service", f.Service, "Name of the exporter's Service (service-proxy access).")
	fs.StringVar(&f.Port, "exporter-port", f.Port, "Name of the Service port the exporter listens on (service-proxy access).")
	fs.BoolVar(&f.TLS, "exporter-tls", f.TLS, "The exporter serves HTTPS: proxy to https:<service>:<port> instead of http:<service>:<port>.")
	fs.StringVar(&f.URL, "exporter-url", f.URL, "Reach the exporter directly at this URL instead of through the API server's service proxy.")
	fs.StringVar(&f.CAFile, "exporter-ca-file", f.CAFile, "CA certificate(s) to verify the exporter's serving certificate (--exporter-url only).")
	fs.StringVar(&f.CertFile, "exporter-cert-file", f.CertFile, "Client certificate for the exporter's TLS client authentication (--exporter-url only).")
	fs.StringVar(&f.KeyFile, "exporter-key-file", f.KeyFile, "Key of --exporter-cert-file.")
	fs.BoolVar(&f.InsecureSkipTLSVerify, "exporter-insecure-skip-tls-verify", f.InsecureSkipTLSVerify, "Do not verify the exporter's certificate (--exporter-url only; insecure).")
	fs.StringVar(&f.Username, "exporter-username", f.Username, "Basic-auth user of the exporter's web config (--exporter-url only).")
	fs.StringVar(&f.PasswordFile, "exporter-password-file", f.PasswordFile, "File holding the basic-auth password (default: $"+EnvExporterPassword+").")
	fs.DurationVar(&f.Timeout, "exporter-timeout", f.Timeout, "Deadline of each request to the exporter.")
}

// ProxyServiceName is the service-proxy name the API server resolves:
// <scheme>:<service>:<port>. RBAC rules on services/proxy must name exactly
// this string in resourceNames.
func (f *ExporterFlags) ProxyServiceName() string {
	scheme := "http"
	if f.TLS {
		scheme = "https"
	}
	return scheme + ":" + f.Service + ":" + f.Port
}

// Validate checks the flags without touching the network.
func (f *ExporterFlags) Validate() error {
	if f.Timeout <= 0 {
		return fmt.Errorf("--exporter-timeout must be positive, got %s", f.Timeout)
	}
	if f.URL == "" {
		for _, c := range []struct{ flag, v string }{
			{"--exporter-ca-file", f.CAFile}, {"--exporter-cert-file", f.CertFile}, {"--exporter-key-file", f.KeyFile},
			{"--exporter-username", f.Username}, {"--exporter-password-file", f.PasswordFile},
		} {
			if c.v != "" {
				return fmt.Errorf("%s applies only with --exporter-url; through the service proxy the API server authenticates you", c.flag)
			}
		}
		if f.InsecureSkipTLSVerify {
			return errors.New("--exporter-insecure-skip-tls-verify applies only with --exporter-url")
		}
		if errs := validation.IsDNS1123Label(f.Namespace); len(errs) > 0 {
			return fmt.Errorf("--exporter-namespace %q: %s", f.Namespace, strings.Join(errs, "; "))
		}
		if errs := validation.IsDNS1035Label(f.Service); len(errs) > 0 {
			return fmt.Errorf("--exporter-service %q: %s", f.Service, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidPortName(f.Port); len(errs) > 0 {
			return fmt.Errorf("--exporter-port %q must be a port name: %s", f.Port, strings.Join(errs, "; "))
		}
		return nil
	}
	if f.TLS {
		return errors.New("--exporter-tls applies only to the service proxy; give an https:// --exporter-url instead")
	}
	u, err := url.Parse(f.URL)
	if err != nil {
		return fmt.Errorf("--exporter-url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("--exporter-url %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("--exporter-url %q has no host", u.Redacted())
	case u.User != nil:
		return errors.New("--exporter-url must not carry user information; use --exporter-username and --exporter-password-file")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("--exporter-url %q must not have a query or fragment", u.Redacted())
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return errors.New("--exporter-cert-file and --exporter-key-file go together")
	}
	if u.Scheme == "http" && (f.CAFile != "" || f.CertFile != "" || f.InsecureSkipTLSVerify) {
		return errors.New("TLS flags given for an http:// --exporter-url")
	}
	if f.PasswordFile != "" && f.Username == "" {
		return errors.New("--exporter-password-file needs --exporter-username")
	}
	return nil
}

// Exporter reads the exporter's /candidates endpoints.
type Exporter struct {
	base     string
	http     *http.Client
	timeout  time.Duration
	user     string
	password string
	// Via says, for messages, how the exporter is reached.
	Via string
	// proxied is true when the API server stands between us and the exporter.
	proxied bool
}

// Client returns an Exporter for validated flags. The REST config is read
// only for service-proxy access.
func (f *ExporterFlags) Client(getter genericclioptions.RESTClientGetter, userAgent string) (*Exporter, error) {
	e := &Exporter{timeout: f.Timeout}
	if f.URL == "" {
		cfg, err := getter.ToRESTConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		cfg = rest.CopyConfig(cfg)
		cfg.UserAgent = userAgent
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("API server client: %w", err)
		}
		server, _, err := rest.DefaultServerUrlFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("API server URL: %w", err)
		}
		e.http, e.proxied = hc, true
		e.base = strings.TrimSuffix(server.String(), "/") +
			"/api/v1/namespaces/" + f.Namespace + "/services/" + f.ProxyServiceName() + "/proxy"
		e.Via = fmt.Sprintf("service %s/%s through the API server's service proxy", f.Namespace, f.ProxyServiceName())
		return e, nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipTLSVerify}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--exporter-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--exporter-ca-file %s holds no PEM certificate", f.CAFile)
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--exporter-cert-file/--exporter-key-file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = tc
	e.http = &http.Client{Transport: userAgentTransport{agent: userAgent, next: t}}
	e.base = strings.TrimSuffix(f.URL, "/")
	e.Via = f.URL
	if f.Username != "" {
		e.user = f.Username
		pw := os.Getenv(EnvExporterPassword)
		if f.PasswordFile != "" {
			b, err := os.ReadFile(f.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("--exporter-password-file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		if pw == "" {
			return nil, fmt.Errorf("--exporter-username needs a password: --exporter-password-file or $%s", EnvExporterPassword)
		}
		e.password = pw
	}
	return e, nil
}

type userAgentTransport struct {
	agent string
	next  http.RoundTripper
}

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.agent != "" {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", t.agent)
	}
	return t.next.RoundTrip(r)
}

// ErrSweepFailed marks an exporter that answered 503: its latest sweep
// failed or none has completed, so it has no list to give.
var ErrSweepFailed = errors.New("the exporter has no valid sweep")

// ExporterError is an answer the exporter (or the API server in front of
// it) gave instead of the document asked for.
type ExporterError struct {
	StatusCode int
	Message    string
	// APIServer is true when the API server answered itself (RBAC, missing
	// Service, no endpoints), not the exporter behind it.
	APIServer bool
	Via       string
}

func (e *ExporterError) Error() string {
	if e.APIServer {
		hint := ""
		switch e.StatusCode {
		case http.StatusForbidden:
			hint = " (you need RBAC permission to get services/proxy with resourceNames naming the exporter's <scheme>:<service>:<port>; see docs/plugin.md)"
		case http.StatusNotFound:
			hint = " (is the exporter deployed? see --exporter-namespace and --exporter-service)"
		case http.StatusServiceUnavailable:
			hint = " (the exporter is not running or not ready)"
		}
		return fmt.Sprintf("API server answered %d for %s: %s%s", e.StatusCode, e.Via, e.Message, hint)
	}
	if e.StatusCode == http.StatusServiceUnavailable {
		return fmt.Sprintf("%s: %s", ErrSweepFailed, e.Message)
	}
	return fmt.Sprintf("exporter (%s) answered %d: %s", e.Via, e.StatusCode, e.Message)
}

// Unwrap makes a 503 of the exporter itself match ErrSweepFailed.
func (e *ExporterError) Unwrap() error {
	if !e.APIServer && e.StatusCode == http.StatusServiceUnavailable {
		return ErrSweepFailed
	}
	return nil
}

// reply is the union of every body the exporter or API server may answer with.
type reply struct {
	// metav1.Status of the API server.
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// api.Error
	Error string `json:"error"`
	// api.NotCandidate
	Candidate *bool  `json:"candidate"`
	Why       string `json:"why"`
}

func (e *Exporter) get(ctx context.Context, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("exporter request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if e.user != "" {
		req.SetBasicAuth(e.user, e.password)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("reach the exporter (%s): %w", e.Via, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read the exporter's answer (%s): %w", e.Via, err)
	}
	return resp.StatusCode, body, nil
}

func (e *Exporter) errorFor(code int, body []byte) *ExporterError {
	var r reply
	_ = json.Unmarshal(body, &r)
	xe := &ExporterError{StatusCode: code, Via: e.Via}
	switch {
	case e.proxied && r.Kind == "Status":
		xe.APIServer, xe.Message = true, r.Message
	case r.Error != "":
		xe.Message = r.Error
	default:
		msg := strings.TrimSpace(string(body))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		if msg == "" {
			msg = http.StatusText(code)
		}
		xe.Message = msg
	}
	return xe
}

// Candidates returns the exporter's latest snapshot. A failed or missing
// sweep is an error matching ErrSweepFailed, never an empty list.
func (e *Exporter) Candidates(ctx context.Context) (*api.Candidates, error) {
	code, body, err := e.get(ctx, "/candidates")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, e.errorFor(code, body)
	}
	var c api.Candidates
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("decode /candidates from %s: %w", e.Via, err)
	}
	if c.Enabled && !c.Sweep.OK {
		// A 200 that says the sweep failed is still a failed sweep.
		msg := c.Sweep.Error
		if msg == "" {
			msg = "the exporter reports its sweep not ok"
		}
		return nil, &ExporterError{StatusCode: http.StatusServiceUnavailable, Message: msg, Via: e.Via}
	}
	return &c, nil
}

// Verdict is the exporter's fresh answer for one namespace: exactly one of
// Candidate and Not is set.
type Verdict struct {
	Candidate *api.Candidate
	Not       *api.NotCandidate
}

// Check asks the exporter for a fresh verdict on namespace (it reads the
// API server and the ledger now, not its cache).
func (e *Exporter) Check(ctx context.Context, namespace string) (Verdict, error) {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return Verdict{}, fmt.Errorf("%q is not a namespace name: %s", namespace, strings.Join(errs, "; "))
	}
	code, body, err := e.get(ctx, "/candidates/"+namespace)
	if err != nil {
		return Verdict{}, err
	}
	switch code {
	case http.StatusOK:
		var c api.Candidate
		if err := json.Unmarshal(body, &c); err != nil {
			return Verdict{}, fmt.Errorf("decode fresh verdict from %s: %w", e.Via, err)
		}
		if c.Namespace != namespace {
			return Verdict{}, fmt.Errorf("the exporter answered the fresh check with another namespace (%d characters long)", len(c.Namespace))
		}
		return Verdict{Candidate: &c}, nil
	case http.StatusNotFound:
		var r reply
		if json.Unmarshal(body, &r) == nil && r.Candidate != nil && !*r.Candidate && r.Why != "" {
			return Verdict{Not: &api.NotCandidate{Candidate: false, Why: r.Why}}, nil
		}
	}
	return Verdict{}, e.errorFor(code, body)
}
