// Package deprovision is the client of the platform's audited deprovision API
// (internal/api/deprovision.openapi.yaml). It is the only way orphans ever
// asks for a tenant resource to be removed: it has no delete logic of its own.
package deprovision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/transport"
)

// Errors a Deprovision call can match with errors.Is.
var (
	// ErrRefused: the platform answered 409; the target is live again or must
	// not be deprovisioned. Callers report it as skipped.
	ErrRefused = errors.New("platform refused")
	// ErrUnauthorized: 401 or 403. Every later request would fail the same
	// way, so callers stop the run.
	ErrUnauthorized = errors.New("not authorized by the platform")
	// ErrNotDeprovisioned: 200 with deprovisioned=false.
	ErrNotDeprovisioned = errors.New("platform did not deprovision")
	// ErrInvalidRequest: the request breaks the contract and was not sent.
	ErrInvalidRequest = errors.New("invalid deprovision request")
	// ErrUncertain: nobody can tell from the answer whether the platform
	// acted: no answer after the request went out (a timeout, a reset after
	// writing), any answer but a 200 after an attempt like that or a 502,
	// 503 or 504, a 2xx other than 200, a 200 body that does not decode, or
	// a real request answered as a dry run. Callers stop the run: a person
	// has to look at the platform's audit log.
	ErrUncertain = errors.New("outcome uncertain")
	// ErrDryRunIgnored: a dry run was answered without "dry_run": true, so
	// the platform may have acted for real. Callers stop the run.
	ErrDryRunIgnored = errors.New("the platform did not confirm the dry run")
)

// RequestID is the Idempotency-Key and request_id of a request about the
// given evidence: UUIDv5 in the URL namespace of
// "urn:orphans:<namespace_uid>:<evidence_digest>:<run|dry-run>". The same
// evidence always gets the same key, across retries, runs and operators, so
// the platform acts at most once on it; a dry run has a key of its own.
func RequestID(namespaceUID, evidenceDigest string, dryRun bool) string {
	mode := "run"
	if dryRun {
		mode = "dry-run"
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:orphans:"+namespaceUID+":"+evidenceDigest+":"+mode)).String()
}

// Secret is the bearer secret of the deprovision API. It formats as
// "[redacted]" so that it cannot reach output through fmt or a logger.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return "[redacted]" }

// SecretFromFile reads the secret from path, without its trailing newline.
func SecretFromFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The error of os.ReadFile names the path, never the content.
		return "", fmt.Errorf("read deprovision secret: %w", err)
	}
	s, err := ParseSecret(string(b))
	if err != nil {
		return "", fmt.Errorf("deprovision secret in %s: %w", path, err)
	}
	return s, nil
}

// ParseSecret checks a secret given as text (a file's content or an
// environment variable) and trims surrounding white space.
func ParseSecret(text string) (Secret, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return "", errors.New("is empty")
	}
	for _, r := range s {
		// A control character or space would corrupt the Authorization header.
		if r <= ' ' || r == 0x7f {
			return "", errors.New("contains white space or control characters")
		}
	}
	return Secret(s), nil
}

// Config configures a Client.
type Config struct {
	// URL is the API's base URL; requests go to URL + /v1/deprovision.
	URL    string
	Secret Secret
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
	// RetryDelay is the pause before the one retry (default 1s).
	RetryDelay time.Duration
	// CAFile, when set, is the only CA trusted for the API's certificate.
	CAFile string
	// UserAgent is sent with every request.
	UserAgent string
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
}

// Client calls the deprovision API.
type Client struct {
	base       string
	endpoint   string
	secret     Secret
	timeout    time.Duration
	retryDelay time.Duration
	userAgent  string
	http       *http.Client
}

// ParseURL checks a deprovision base URL: https (http only to a loopback
// host), a host, and no user information, query or fragment (a secret must
// never travel in a URL, nor in clear over a network).
func ParseURL(raw string) (*url.URL, error) {
	u, err := transport.ParseURL(raw)
	if errors.Is(err, transport.ErrUserInfo) {
		return nil, errors.New("deprovision URL must not carry user information; give the secret with --deprovision-token-file or ORPHANS_DEPROVISION_TOKEN")
	}
	if err == nil {
		err = transport.RequireTLS(u)
	}
	if err != nil {
		return nil, fmt.Errorf("deprovision URL %w", err)
	}
	return u, nil
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Secret == "" {
		return nil, errors.New("deprovision secret is not set: give --deprovision-token-file or ORPHANS_DEPROVISION_TOKEN")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	rt := cfg.Transport
	if rt == nil {
		t, err := transport.HTTPTransport(transport.TLSFiles{CAFile: cfg.CAFile})
		if err != nil {
			return nil, fmt.Errorf("deprovision TLS: %w", err)
		}
		rt = t
	}
	base := strings.TrimSuffix(u.String(), "/")
	return &Client{
		base:       base,
		endpoint:   base + api.DeprovisionPath,
		secret:     cfg.Secret,
		timeout:    cfg.Timeout,
		retryDelay: cfg.RetryDelay,
		userAgent:  cfg.UserAgent,
		// Redirects are not followed: a redirect would resend the bearer
		// secret to wherever the Location points.
		http: &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Endpoint is the URL requests are posted to.
func (c *Client) Endpoint() string { return c.endpoint }

// Result is the platform's answer to one request.
type Result struct {
	api.DeprovisionResponse
	// StatusCode is the HTTP status of the last attempt (0 when none answered).
	StatusCode int
	// Attempts is 1, or 2 when the first attempt failed with a 5xx or a
	// transport error and was retried with the same Idempotency-Key.
	Attempts int
}

// StatusError is an answer other than 200.
type StatusError struct {
	StatusCode int
	// Message is the platform's error text, if any.
	Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("deprovision API answered %d: %s", e.StatusCode, msg)
}

// Unwrap lets callers match the status classes with errors.Is.
func (e *StatusError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusConflict:
		return ErrRefused
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return ErrInvalidRequest
	}
	return nil
}

// Validate checks what the contract requires of a request that OpenAPI
// cannot say, plus the fields without which the audit record is useless.
func Validate(req api.DeprovisionRequest) error {
	var problems []string
	if req.RequestID != RequestID(req.Evidence.NamespaceUID, req.Evidence.EvidenceDigest, req.DryRun) {
		problems = append(problems, "request_id is not the key of evidence.namespace_uid, evidence.evidence_digest and dry_run")
	}
	if req.Evidence.Reason != api.ReasonTerminal {
		problems = append(problems, "evidence.reason is not terminal")
	}
	if req.ProviderResourceID == "" {
		problems = append(problems, "provider_resource_id is empty")
	} else if req.ProviderResourceID != req.Evidence.Namespace {
		problems = append(problems, "provider_resource_id differs from evidence.namespace")
	}
	for _, f := range []struct{ name, v string }{
		{"token", req.Token}, {"resource_type", req.ResourceType}, {"actor", req.Actor},
		{"reason", req.Reason}, {"evidence.namespace_uid", req.Evidence.NamespaceUID},
		{"evidence.evidence_digest", req.Evidence.EvidenceDigest},
	} {
		if strings.TrimSpace(f.v) == "" {
			problems = append(problems, f.name+" is empty")
		}
	}
	problems = append(problems, req.PlanProblems()...)
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(problems, "; "))
	}
	return nil
}

// Deprovision posts req. It retries once, with the same Idempotency-Key and
// body, after a 5xx or a transport error (a timeout included); nothing else
// is retried. The error is nil only when the platform answered 200 with
// deprovisioned=true and echoed the request's dry_run. Errors match
// ErrUncertain when the platform may have acted without saying so: no
// answer after the request went out, and every answer but a 200 once an
// attempt went out without a definite answer (a timeout, a connection
// reset after writing, a 502, 503 or 504), because that attempt may have
// reached the platform and the later answer may be about its work (a 409
// because it is already gone, a 422 because the key is taken).
func (c *Client) Deprovision(ctx context.Context, req api.DeprovisionRequest) (Result, error) {
	if err := Validate(req); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("encode deprovision request: %w", err)
	}
	var res Result
	// indefinite: some attempt went out and got no definite answer.
	indefinite := false
	for attempt := 1; ; attempt++ {
		var a attemptResult
		a, err = c.attempt(ctx, req, body)
		res, indefinite = a.res, indefinite || a.indefinite
		res.Attempts = attempt
		if err == nil || !a.retryable || attempt == 2 {
			break
		}
		select {
		case <-ctx.Done():
			err = fmt.Errorf("deprovision: %w (before retry of: %v)", ctx.Err(), err)
		case <-time.After(c.retryDelay):
			continue
		}
		break
	}
	if err != nil && res.Attempts == 2 {
		err = fmt.Errorf("after retry with the same Idempotency-Key: %w", err)
	}
	switch {
	case err == nil || !indefinite || errors.Is(err, ErrUncertain) || res.StatusCode == http.StatusOK:
		// A 200 says what the platform did, whatever came before it.
	case ctx.Err() != nil:
		// Cancelled (Ctrl-C) after a request went out.
		err = fmt.Errorf("%w: no answer after the request went out: %w", ErrUncertain, err)
	default:
		// %v, not %w: the last answer's class (a 409, a 403) must not be
		// read as the outcome, since it may be about this very request.
		err = fmt.Errorf("%w: an attempt went out without a definite answer, so the platform may have acted on it; the last answer: %v", ErrUncertain, err)
	}
	return res, err
}

type attemptResult struct {
	res Result
	// retryable: a 5xx or no answer, and not cancelled.
	retryable bool
	// indefinite: the request went out and the answer, if any, does not say
	// what the platform did: none at all, or a gateway's 502, 503 or 504.
	indefinite bool
}

// indefiniteStatus says whether a status comes from something in front of
// the platform that may have passed the request on before giving up.
func indefiniteStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func (c *Client) attempt(ctx context.Context, req api.DeprovisionRequest, body []byte) (attemptResult, error) {
	var a attemptResult
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	})
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return a, fmt.Errorf("build deprovision request: %w", err)
	}
	c.setHeaders(hreq)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(api.HeaderIdempotencyKey, req.RequestID)
	resp, err := c.http.Do(hreq)
	if err != nil {
		a.indefinite = wrote.Load()
		if ctx.Err() != nil {
			// The caller cancelled (Ctrl-C): no retry.
			return a, fmt.Errorf("deprovision: %w", ctx.Err())
		}
		a.retryable = true
		return a, fmt.Errorf("deprovision request: %s", c.redact(err.Error()))
	}
	defer resp.Body.Close()
	a.res.StatusCode = resp.StatusCode
	a.indefinite = indefiniteStatus(resp.StatusCode)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// The status arrived but the body did not: an answer, but not one
		// anybody can read.
		return a, fmt.Errorf("%w: read deprovision response (status %d): %s", ErrUncertain, resp.StatusCode, c.redact(err.Error()))
	}
	switch {
	case resp.StatusCode >= 500:
		a.retryable = true
		return a, &StatusError{StatusCode: resp.StatusCode, Message: c.redact(errorText(raw))}
	case resp.StatusCode >= 200 && resp.StatusCode < 300 && resp.StatusCode != http.StatusOK:
		return a, fmt.Errorf("%w: the deprovision API answered %d, which says neither done nor refused", ErrUncertain, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return a, &StatusError{StatusCode: resp.StatusCode, Message: c.redact(errorText(raw))}
	}
	if err := json.Unmarshal(raw, &a.res.DeprovisionResponse); err != nil {
		return a, fmt.Errorf("%w: the deprovision API answered 200 with a body that does not decode: %v", ErrUncertain, err)
	}
	r := &a.res
	r.Message = c.redact(r.Message)
	switch {
	case req.DryRun && !r.DryRun:
		return a, fmt.Errorf("%w (audit id %q): the answer to a dry run does not say \"dry_run\": true, so the platform may have acted for real", ErrDryRunIgnored, r.AuditID)
	case !req.DryRun && r.DryRun:
		return a, fmt.Errorf("%w (audit id %q): the platform answered a real request as a dry run", ErrUncertain, r.AuditID)
	case !r.Deprovisioned:
		msg := r.Message
		if msg == "" {
			msg = "no reason given"
		}
		return a, fmt.Errorf("%w (audit id %q): %s", ErrNotDeprovisioned, r.AuditID, msg)
	}
	return a, nil
}

// Capabilities asks the platform what it supports (GET /v1/capabilities).
// It is asked before a server dry run, which is sent only to a platform
// that says it honours dry_run.
func (c *Client) Capabilities(ctx context.Context) (api.Capabilities, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+api.CapabilitiesPath, nil)
	if err != nil {
		return api.Capabilities{}, fmt.Errorf("build capabilities request: %w", err)
	}
	c.setHeaders(hreq)
	resp, err := c.http.Do(hreq)
	if err != nil {
		return api.Capabilities{}, fmt.Errorf("capabilities request: %s", c.redact(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return api.Capabilities{}, fmt.Errorf("read capabilities: %s", c.redact(err.Error()))
	}
	if resp.StatusCode != http.StatusOK {
		return api.Capabilities{}, &StatusError{StatusCode: resp.StatusCode, Message: c.redact(errorText(raw))}
	}
	var caps api.Capabilities
	if err := json.Unmarshal(raw, &caps); err != nil {
		return api.Capabilities{}, fmt.Errorf("decode capabilities: %w", err)
	}
	return caps, nil
}

func (c *Client) setHeaders(r *http.Request) {
	r.Header.Set("Accept", "application/json")
	r.Header.Set(api.HeaderAuthorization, "Bearer "+string(c.secret))
	if c.userAgent != "" {
		r.Header.Set("User-Agent", c.userAgent)
	}
}

// errorText extracts the error text of a non-200 answer.
func errorText(raw []byte) string {
	var e api.Error
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// redact removes the secret from text that came from elsewhere, so that a
// platform echoing the header back cannot make us print it.
func (c *Client) redact(s string) string {
	if c.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, string(c.secret), "[redacted]")
}

// RegisterPlan registers plan with the platform under the identity of the
// client's secret and returns the platform's id for it and its author.
func (c *Client) RegisterPlan(ctx context.Context, plan api.Plan) (api.PlanRegistration, error) {
	var reg api.PlanRegistration
	body, err := json.Marshal(plan)
	if err != nil {
		return reg, fmt.Errorf("encode plan: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+api.PlansPath, bytes.NewReader(body))
	if err != nil {
		return reg, fmt.Errorf("build plan registration: %w", err)
	}
	c.setHeaders(hreq)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return reg, fmt.Errorf("plan registration: %s", c.redact(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reg, fmt.Errorf("read plan registration: %s", c.redact(err.Error()))
	}
	if resp.StatusCode != http.StatusCreated {
		return reg, &StatusError{StatusCode: resp.StatusCode, Message: c.redact(errorText(raw))}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reg); err != nil {
		return reg, fmt.Errorf("decode plan registration: %w", err)
	}
	if reg.PlanID == "" || reg.Author == "" {
		return reg, errors.New("the platform registered the plan without a plan_id or an author")
	}
	return reg, nil
}
