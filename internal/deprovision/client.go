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
	"net/url"
	"os"
	"strings"
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
)

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
	endpoint   string
	secret     Secret
	timeout    time.Duration
	retryDelay time.Duration
	userAgent  string
	http       *http.Client
}

// ParseURL checks a deprovision base URL: http or https, a host, and no user
// information, query or fragment (a secret must never travel in a URL).
func ParseURL(raw string) (*url.URL, error) {
	u, err := transport.ParseURL(raw)
	if errors.Is(err, transport.ErrUserInfo) {
		return nil, errors.New("deprovision URL must not carry user information; give the secret with --deprovision-token-file or ORPHANS_DEPROVISION_TOKEN")
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
	return &Client{
		endpoint:   strings.TrimSuffix(u.String(), "/") + api.DeprovisionPath,
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
	if _, err := uuid.Parse(req.RequestID); err != nil {
		problems = append(problems, "request_id is not a uuid")
	}
	if req.ProviderResourceID == "" {
		problems = append(problems, "provider_resource_id is empty")
	} else if req.ProviderResourceID != req.Evidence.Namespace {
		problems = append(problems, "provider_resource_id differs from evidence.namespace")
	}
	for _, f := range []struct{ name, v string }{
		{"token", req.Token}, {"resource_type", req.ResourceType}, {"actor", req.Actor},
		{"reason", req.Reason}, {"evidence.reason", req.Evidence.Reason},
	} {
		if strings.TrimSpace(f.v) == "" {
			problems = append(problems, f.name+" is empty")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(problems, "; "))
	}
	return nil
}

// Deprovision posts req. It retries once, with the same Idempotency-Key and
// body, after a 5xx or a transport error (a timeout included); nothing else
// is retried. The error is nil only when the platform answered 200 with
// deprovisioned=true.
func (c *Client) Deprovision(ctx context.Context, req api.DeprovisionRequest) (Result, error) {
	if err := Validate(req); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("encode deprovision request: %w", err)
	}
	var res Result
	for attempt := 1; attempt <= 2; attempt++ {
		var retryable bool
		res, retryable, err = c.attempt(ctx, req.RequestID, body, attempt)
		if err == nil || !retryable || attempt == 2 {
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("deprovision: %w (before retry of: %v)", ctx.Err(), err)
		case <-time.After(c.retryDelay):
		}
	}
	if err != nil && res.Attempts == 2 {
		err = fmt.Errorf("after retry with the same Idempotency-Key: %w", err)
	}
	return res, err
}

func (c *Client) attempt(ctx context.Context, key string, body []byte, n int) (Result, bool, error) {
	res := Result{Attempts: n}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return res, false, fmt.Errorf("build deprovision request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set(api.HeaderAuthorization, "Bearer "+string(c.secret))
	hreq.Header.Set(api.HeaderIdempotencyKey, key)
	if c.userAgent != "" {
		hreq.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			// The caller cancelled (Ctrl-C): no retry.
			return res, false, fmt.Errorf("deprovision: %w", ctx.Err())
		}
		return res, true, fmt.Errorf("deprovision request: %s", c.redact(err.Error()))
	}
	defer resp.Body.Close()
	res.StatusCode = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, true, fmt.Errorf("read deprovision response (status %d): %s", resp.StatusCode, c.redact(err.Error()))
	}
	if resp.StatusCode != http.StatusOK {
		return res, resp.StatusCode >= 500, &StatusError{StatusCode: resp.StatusCode, Message: c.redact(errorText(raw))}
	}
	if err := json.Unmarshal(raw, &res.DeprovisionResponse); err != nil {
		return res, false, fmt.Errorf("decode deprovision response: %w", err)
	}
	res.Message = c.redact(res.Message)
	if !res.Deprovisioned {
		msg := res.Message
		if msg == "" {
			msg = "no reason given"
		}
		return res, false, fmt.Errorf("%w (audit id %q): %s", ErrNotDeprovisioned, res.AuditID, msg)
	}
	return res, false, nil
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
