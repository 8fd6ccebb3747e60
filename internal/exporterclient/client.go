// Package exporterclient reads the orphans exporter's /candidates endpoints,
// directly or through the API server's service proxy. It only reads: the
// exporter has nothing to write to.
package exporterclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/transport"
)

// Config says how to reach the exporter: Proxy set means through the API
// server's service proxy, otherwise directly at URL.
type Config struct {
	// Proxy, when set, reaches the exporter through the API server.
	Proxy *Proxy

	// URL is the exporter's base URL for direct access.
	URL string
	// TLS are the TLS files of direct https access.
	TLS transport.TLSFiles
	// Username and Password are the basic-auth credentials of direct access.
	Username, Password string

	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// Proxy is service-proxy access: the API server at REST forwards to
// /api/v1/namespaces/<Namespace>/services/<Service>/proxy, where Service is
// the <scheme>:<name>:<port> string RBAC rules name.
type Proxy struct {
	REST      *rest.Config
	Namespace string
	Service   string
}

// Client reads the exporter's /candidates endpoints.
type Client struct {
	base     string
	http     *http.Client
	timeout  time.Duration
	user     string
	password string
	via      string
	// proxied is true when the API server stands between us and the exporter.
	proxied bool
	// hop is the first server we talk to (the exporter, or the API server
	// in front of it) and insecure whether its certificate goes unchecked.
	hop      *url.URL
	insecure bool
	// maxWait caps the pause a 429's Retry-After asks for.
	maxWait time.Duration
}

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	c := &Client{timeout: cfg.Timeout, maxWait: 30 * time.Second}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if p := cfg.Proxy; p != nil {
		rc := rest.CopyConfig(p.REST)
		rc.UserAgent = cfg.UserAgent
		hc, err := rest.HTTPClientFor(rc)
		if err != nil {
			return nil, fmt.Errorf("API server client: %w", err)
		}
		server, _, err := rest.DefaultServerUrlFor(rc)
		if err != nil {
			return nil, fmt.Errorf("API server URL: %w", err)
		}
		c.http, c.proxied = hc, true
		c.hop, c.insecure = server, rc.Insecure
		c.base = strings.TrimSuffix(server.String(), "/") + "/api/v1/namespaces/" + p.Namespace + "/services/" + p.Service + "/proxy"
		c.via = fmt.Sprintf("service %s/%s through the API server's service proxy", p.Namespace, p.Service)
		return c, nil
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("exporter URL: %w", err)
	}
	t, err := transport.HTTPTransport(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("exporter TLS: %w", err)
	}
	c.http = &http.Client{Transport: userAgentTransport{agent: cfg.UserAgent, next: t}}
	c.base = strings.TrimSuffix(u.String(), "/")
	c.via = u.Redacted()
	c.user, c.password = cfg.Username, cfg.Password
	c.hop, c.insecure = u, cfg.TLS.InsecureSkipVerify
	return c, nil
}

// CheckFirstHop says why the first hop (the exporter, or the API server in
// front of it) could be impersonated: plain http to a host that is not
// loopback, or TLS without certificate verification. nil means it cannot.
// A reclaim must not rest on verdicts that anybody on the path could write.
func (c *Client) CheckFirstHop() error {
	what := "the exporter at " + c.hop.Redacted()
	if c.proxied {
		what = "the API server at " + c.hop.Redacted() + " (the kubeconfig's cluster)"
	}
	if c.insecure {
		return fmt.Errorf("%s is reached without verifying its certificate (insecure-skip-tls-verify)", what)
	}
	if err := transport.RequireTLS(c.hop); err != nil {
		return fmt.Errorf("%s is reached over plain http and is not loopback", what)
	}
	return nil
}

// Via says, for messages, how the exporter is reached.
func (c *Client) Via() string { return c.via }

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

// Error is an answer the exporter (or the API server in front of it) gave
// instead of the document asked for.
type Error struct {
	StatusCode int
	Message    string
	// APIServer is true when the API server answered itself (RBAC, missing
	// Service, no endpoints), not the exporter behind it.
	APIServer bool
	Via       string
}

func (e *Error) Error() string {
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
func (e *Error) Unwrap() error {
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

func (c *Client) get(ctx context.Context, path string) (int, []byte, error) {
	code, body, _, err := c.getWait(ctx, path)
	return code, body, err
}

// getWait is get that also returns the pause a 429 asks for.
func (c *Client) getWait(ctx context.Context, path string) (int, []byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("exporter request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("reach the exporter (%s): %w", c.via, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, 0, fmt.Errorf("read the exporter's answer (%s): %w", c.via, err)
	}
	return resp.StatusCode, body, retryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

func (c *Client) errorFor(code int, body []byte) *Error {
	var r reply
	_ = json.Unmarshal(body, &r)
	xe := &Error{StatusCode: code, Via: c.via}
	switch {
	case c.proxied && r.Kind == "Status":
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
func (c *Client) Candidates(ctx context.Context) (*api.Candidates, error) {
	code, body, err := c.get(ctx, "/candidates")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, c.errorFor(code, body)
	}
	var doc api.Candidates
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode /candidates from %s: %w", c.via, err)
	}
	if doc.Enabled && !doc.Sweep.OK {
		// A 200 that says the sweep failed is still a failed sweep.
		msg := doc.Sweep.Error
		if msg == "" {
			msg = "the exporter reports its sweep not ok"
		}
		return nil, &Error{StatusCode: http.StatusServiceUnavailable, Message: msg, Via: c.via}
	}
	return &doc, nil
}

// Ghosts returns the exporter's latest ghost sweep: live ledger rows whose
// namespace is missing. A failed or missing ghost sweep is an error matching
// ErrSweepFailed, never an empty list.
func (c *Client) Ghosts(ctx context.Context) (*api.Ghosts, error) {
	code, body, err := c.get(ctx, "/ghosts")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, c.errorFor(code, body)
	}
	var doc api.Ghosts
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode /ghosts from %s: %w", c.via, err)
	}
	if doc.Enabled && !doc.Sweep.OK {
		msg := doc.Sweep.Error
		if msg == "" {
			msg = "the exporter reports its ghost sweep not ok"
		}
		return nil, &Error{StatusCode: http.StatusServiceUnavailable, Message: msg, Via: c.via}
	}
	return &doc, nil
}

// Verdict is the exporter's fresh answer for one namespace: exactly one of
// Candidate and Not is set.
type Verdict struct {
	Candidate *api.Candidate
	Not       *api.NotCandidate
}

// Check asks the exporter for a fresh verdict on namespace (it reads the
// API server and the ledger now, not its cache). A 429 (the exporter limits
// concurrent fresh checks) is retried after its Retry-After, up to 3 times.
// The verdict is what the exporter claims; judging it is the caller's job.
func (c *Client) Check(ctx context.Context, namespace string) (Verdict, error) {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return Verdict{}, fmt.Errorf("%q is not a namespace name: %s", namespace, strings.Join(errs, "; "))
	}
	var code int
	var body []byte
	for retry := 0; ; retry++ {
		var wait time.Duration
		var err error
		code, body, wait, err = c.getWait(ctx, "/candidates/"+namespace)
		if err != nil {
			return Verdict{}, err
		}
		if code != http.StatusTooManyRequests || retry == maxBusyRetries {
			break
		}
		select {
		case <-ctx.Done():
			return Verdict{}, fmt.Errorf("fresh check: %w", ctx.Err())
		case <-time.After(min(wait, c.maxWait)):
		}
	}
	switch code {
	case http.StatusOK:
		var cand api.Candidate
		if err := json.Unmarshal(body, &cand); err != nil {
			return Verdict{}, fmt.Errorf("decode fresh verdict from %s: %w", c.via, err)
		}
		return Verdict{Candidate: &cand}, nil
	case http.StatusNotFound:
		var r reply
		if json.Unmarshal(body, &r) == nil && r.Candidate != nil && !*r.Candidate && r.Why != "" {
			return Verdict{Not: &api.NotCandidate{Candidate: false, Why: r.Why}}, nil
		}
	}
	return Verdict{}, c.errorFor(code, body)
}

// maxBusyRetries is how often a fresh check answered 429 is asked again.
const maxBusyRetries = 3

// retryAfter reads a Retry-After header: seconds or an HTTP date. Without
// a usable one the pause is a second.
func retryAfter(h string, now time.Time) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return time.Second
}
