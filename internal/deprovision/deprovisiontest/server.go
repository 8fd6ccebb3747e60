// Package deprovisiontest is a local stand-in for the platform's audited
// deprovision API, for tests only. It enforces the contract of
// internal/api/deprovision.openapi.yaml on every request (method, path,
// bearer secret, the request schema, Idempotency-Key equal to request_id
// and derived from the evidence, provider_resource_id equal to
// evidence.namespace), answers as a test scripts it per namespace, and
// records everything it received.
//
// It behaves like a well-run platform by default: it echoes dry_run,
// announces dry-run support at GET /v1/capabilities, and replays the first
// final answer for a repeated key. A test can make it misbehave: script
// any status (202, 500 twice), a delay past the client's timeout, a body
// of its choosing; IgnoreDryRun answers dry runs as if they were real; and
// SetCapabilities changes what /v1/capabilities says.
//
// Like the platform, it maps each bearer secret to one identity and
// refuses (403) a request whose actor is not that identity. It registers
// plans (POST /v1/plans, author = the identity) and enforces them on a
// request that names one: the actor is not the author (403, unless
// self_approved and RefuseSelfApproval is off), plan_author and
// plan_expires_at are the registered ones (403, 409), the plan has not
// expired and the namespace, with its evidence digest, is one of its
// items (409).
package deprovisiontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orphansweep/orphans/internal/api"
)

// Response is one scripted answer.
type Response struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Body is encoded as JSON; nil gives the default body of Status
	// ({"deprovisioned":true,"audit_id":…} for 200, {"error":…} otherwise).
	Body any
	// Delay holds the answer back (to provoke client timeouts).
	Delay time.Duration
}

// Request is what the stand-in received and how it answered.
type Request struct {
	Received       time.Time
	Method         string
	Path           string
	IdempotencyKey string
	UserAgent      string
	// Authorized says whether the bearer secret matched. The header itself
	// is not kept.
	Authorized bool
	// Body is the decoded request (zero if it did not decode).
	Body api.DeprovisionRequest
	Raw  []byte
	// Violations lists every way the request broke the contract; such a
	// request is answered 400.
	Violations []string
	// Status is the HTTP status the stand-in answered with.
	Status int
	// Replayed is true when the answer was replayed for a known
	// Idempotency-Key instead of acting again.
	Replayed bool
}

type stored struct {
	action action
	status int
	answer []byte
}

// action is what a request asks the platform to do. A repeated
// Idempotency-Key must ask for the same action; the audit fields (actor,
// reason, confirmed_at) may differ between runs.
type action struct {
	token, resourceType, providerResourceID, namespaceUID, evidenceDigest string
	dryRun                                                                bool
}

func actionOf(r api.DeprovisionRequest) action {
	return action{r.Token, r.ResourceType, r.ProviderResourceID, r.Evidence.NamespaceUID, r.Evidence.EvidenceDigest, r.DryRun}
}

// Server is the running stand-in.
type Server struct {
	// URL is the base URL to configure the client with.
	URL string

	srv *httptest.Server
	// identities maps each bearer secret to the identity it authenticates.
	identities map[string]string
	schema     *Schema
	planSchema *Schema
	plans      map[string]registered
	now        func() time.Time

	mu           sync.Mutex
	script       map[string][]Response
	requests     []Request
	byKey        map[string]stored
	arrived      map[string]int
	audits       int
	ignoreDryRun bool
	fourEyes     bool
	capabilities Response
	capQueries   int
}

// registered is a plan as its author registered it.
type registered struct {
	author, digest string
	expiresAt      time.Time
	// items maps each namespace to the evidence digest planned for it.
	items map[string]string
}

// New starts a stand-in on loopback that accepts secret as the bearer
// secret of identity. It is closed when the test ends.
func New(t testing.TB, secret, identity string) *Server {
	t.Helper()
	schema, err := LoadSchema("DeprovisionRequest")
	if err != nil {
		t.Fatalf("deprovision stand-in: %v", err)
	}
	planSchema, err := LoadSchema("Plan")
	if err != nil {
		t.Fatalf("deprovision stand-in: %v", err)
	}
	s := &Server{
		identities: map[string]string{secret: identity}, schema: schema, planSchema: planSchema, plans: map[string]registered{}, now: time.Now,
		script: map[string][]Response{}, byKey: map[string]stored{}, arrived: map[string]int{},
		capabilities: Response{Body: api.Capabilities{DryRun: true, Plans: true}},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SetNow sets the stand-in's clock, by which plans expire.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// AddIdentity accepts secret as the bearer secret of identity.
func (s *Server) AddIdentity(secret, identity string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities[secret] = identity
}

// identity returns who the request's bearer secret authenticates, "" for
// nobody.
func (s *Server) identity(r *http.Request) string {
	secret, ok := strings.CutPrefix(r.Header.Get(api.HeaderAuthorization), "Bearer ")
	if !ok || secret == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identities[secret]
}

// Respond scripts the answers for requests whose provider_resource_id is
// namespace: one per request, in order; the last repeats.
func (s *Server) Respond(namespace string, rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script[namespace] = append([]Response(nil), rs...)
}

// IgnoreDryRun makes the stand-in act on dry runs as if they were real and
// answer them without the dry_run echo, as a platform that does not know
// the field would.
func (s *Server) IgnoreDryRun() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreDryRun = true
}

// RefuseSelfApproval makes the stand-in enforce four eyes itself, as the
// contract recommends: a request whose actor is its plan's author is
// refused with 403, self_approved or not.
func (s *Server) RefuseSelfApproval() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fourEyes = true
}

// SetCapabilities scripts the answer to GET /v1/capabilities (by default
// 200 {"dry_run": true}).
func (s *Server) SetCapabilities(r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capabilities = r
}

// CapabilityQueries counts the authorized GET /v1/capabilities received.
func (s *Server) CapabilityQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capQueries
}

// Keys returns the Idempotency-Key of every deprovision request received,
// in order, retries and replays included.
func (s *Server) Keys() []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.IdempotencyKey)
	}
	return out
}

// Requests returns a copy of every deprovision request received so far
// (everything but capability queries and plan registrations), in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Arrived counts the valid requests for namespace that have arrived,
// including those still waiting for a delayed answer (Requests lists a
// request only once it is answered).
func (s *Server) Arrived(namespace string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrived[namespace]
}

// Violations returns the contract violations of all requests so far.
func (s *Server) Violations() []string {
	var out []string
	for _, r := range s.Requests() {
		for _, v := range r.Violations {
			out = append(out, fmt.Sprintf("request %s: %s", r.IdempotencyKey, v))
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == api.CapabilitiesPath {
		s.serveCapabilities(w, r)
		return
	}
	if r.URL.Path == api.PlansPath {
		s.servePlans(w, r)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Request{
		Received:       time.Now(),
		Method:         r.Method,
		Path:           r.URL.Path,
		IdempotencyKey: r.Header.Get(api.HeaderIdempotencyKey),
		UserAgent:      r.Header.Get("User-Agent"),
		Raw:            raw,
	}
	who := s.identity(r)
	rec.Authorized = who != ""
	status, answer := s.handle(&rec, r, who)
	rec.Status = status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (s *Server) handle(rec *Request, r *http.Request, who string) (int, []byte) {
	switch {
	case r.Method != http.MethodPost:
		rec.Violations = append(rec.Violations, "method "+r.Method+", want POST")
		return http.StatusMethodNotAllowed, errorBody("method not allowed")
	case r.URL.Path != api.DeprovisionPath:
		rec.Violations = append(rec.Violations, "path "+r.URL.Path+", want "+api.DeprovisionPath)
		return http.StatusNotFound, errorBody("no such path")
	case !rec.Authorized:
		return http.StatusUnauthorized, errorBody("missing or wrong bearer secret")
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		rec.Violations = append(rec.Violations, fmt.Sprintf("Content-Type %q, want application/json", r.Header.Get("Content-Type")))
	}
	rec.Violations = append(rec.Violations, s.schema.Validate(rec.Raw)...)
	dec := json.NewDecoder(bytes.NewReader(rec.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.Body); err != nil {
		rec.Violations = append(rec.Violations, "body does not decode: "+err.Error())
	}
	switch _, err := uuid.Parse(rec.IdempotencyKey); {
	case rec.IdempotencyKey == "":
		rec.Violations = append(rec.Violations, "Idempotency-Key header is missing")
	case err != nil:
		rec.Violations = append(rec.Violations, "Idempotency-Key is not a uuid")
	case rec.IdempotencyKey != rec.Body.RequestID:
		rec.Violations = append(rec.Violations, "Idempotency-Key differs from request_id")
	case rec.IdempotencyKey != evidenceKey(rec.Body):
		rec.Violations = append(rec.Violations, "Idempotency-Key is not derived from evidence.namespace_uid, evidence.evidence_digest and dry_run")
	}
	if rec.Body.ProviderResourceID == "" {
		rec.Violations = append(rec.Violations, "provider_resource_id is empty")
	} else if rec.Body.ProviderResourceID != rec.Body.Evidence.Namespace {
		rec.Violations = append(rec.Violations, "provider_resource_id differs from evidence.namespace")
	}
	rec.Violations = append(rec.Violations, rec.Body.PlanProblems()...)
	if len(rec.Violations) > 0 {
		return http.StatusBadRequest, errorBody("contract violation: " + strings.Join(rec.Violations, "; "))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Body.Actor != who {
		return http.StatusForbidden, errorBody("the actor is not the identity of the bearer secret")
	}
	if s.fourEyes && rec.Body.Evidence.PlanAuthor != "" && rec.Body.Evidence.PlanAuthor == rec.Body.Actor {
		return http.StatusForbidden, errorBody("four eyes: the author of a plan cannot approve it")
	}
	if status, msg := s.planRefusal(rec.Body); status != 0 {
		return status, errorBody(msg)
	}
	if prev, ok := s.byKey[rec.IdempotencyKey]; ok {
		if prev.action != actionOf(rec.Body) {
			rec.Violations = append(rec.Violations, "Idempotency-Key reused for a different action")
			return http.StatusUnprocessableEntity, errorBody("Idempotency-Key reused for a different action")
		}
		rec.Replayed = true
		return prev.status, prev.answer
	}
	s.arrived[rec.Body.ProviderResourceID]++
	resp := s.next(rec.Body.ProviderResourceID)
	gone := false
	if resp.Delay > 0 {
		s.mu.Unlock()
		// A client that gives up (timeout, Ctrl-C) ends the wait, so that
		// closing the server does not wait out the delay.
		select {
		case <-time.After(resp.Delay):
		case <-r.Context().Done():
			gone = true
		}
		s.mu.Lock()
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	var answer []byte
	switch {
	case resp.Body != nil:
		answer, _ = json.Marshal(resp.Body)
	case status >= 200 && status < 300:
		s.audits++
		echo := rec.Body.DryRun && !s.ignoreDryRun
		answer, _ = json.Marshal(api.DeprovisionResponse{Deprovisioned: true, AuditID: fmt.Sprintf("audit-%d", s.audits), DryRun: echo})
	default:
		answer = errorBody(http.StatusText(status))
	}
	// Like a real idempotent API, only final answers are kept: a retry
	// after a 5xx is processed anew. A request whose client gave up while
	// it hung never finished, so its retry is processed anew too.
	if status < 500 && !gone {
		s.byKey[rec.IdempotencyKey] = stored{action: actionOf(rec.Body), status: status, answer: answer}
	}
	return status, answer
}

func (s *Server) serveCapabilities(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.identity(r) == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(errorBody("missing or wrong bearer secret"))
		return
	}
	s.mu.Lock()
	s.capQueries++
	resp := s.capabilities
	s.mu.Unlock()
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	answer := errorBody(http.StatusText(status))
	if resp.Body != nil {
		answer, _ = json.Marshal(resp.Body)
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// evidenceKey is the key the contract derives from a request's evidence,
// computed here independently of the client's code.
func evidenceKey(r api.DeprovisionRequest) string {
	mode := "run"
	if r.DryRun {
		mode = "dry-run"
	}
	name := fmt.Sprintf("urn:orphans:%s:%s:%s", r.Evidence.NamespaceUID, r.Evidence.EvidenceDigest, mode)
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(name)).String()
}

func (s *Server) next(namespace string) Response {
	rs := s.script[namespace]
	if len(rs) == 0 {
		return Response{}
	}
	r := rs[0]
	if len(rs) > 1 {
		s.script[namespace] = rs[1:]
	}
	return r
}

func errorBody(msg string) []byte {
	b, _ := json.Marshal(api.Error{Error: msg})
	return b
}

// planRefusal returns the status and reason with which the platform
// refuses a request that names a plan, or 0 when it names none or the
// plan allows it. The caller holds s.mu.
func (s *Server) planRefusal(r api.DeprovisionRequest) (int, string) {
	ev := r.Evidence
	if ev.PlanID == "" {
		return 0, ""
	}
	p, ok := s.plans[ev.PlanID]
	switch {
	case !ok:
		return http.StatusConflict, "no such plan"
	case ev.PlanAuthor != p.author:
		return http.StatusForbidden, "evidence.plan_author is not the plan's registered author"
	case r.Actor == p.author && (!ev.SelfApproved || s.fourEyes):
		return http.StatusForbidden, "four eyes: the author of a plan cannot approve it"
	case ev.PlanDigest != p.digest:
		return http.StatusConflict, "evidence.plan_digest is not the registered plan's"
	case ev.PlanExpiresAt == nil || !ev.PlanExpiresAt.Equal(p.expiresAt):
		return http.StatusConflict, "evidence.plan_expires_at is not the registered plan's expiry"
	case !s.now().Before(p.expiresAt):
		return http.StatusConflict, "the plan has expired"
	}
	if d, ok := p.items[r.ProviderResourceID]; !ok || d != ev.EvidenceDigest {
		return http.StatusConflict, "the namespace, with this evidence, is not in the plan"
	}
	return 0, ""
}

// servePlans registers a plan under the identity of the bearer secret.
func (s *Server) servePlans(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	if r.Method != http.MethodPost {
		answer(http.StatusMethodNotAllowed, api.Error{Error: "method not allowed"})
		return
	}
	who := s.identity(r)
	if who == "" {
		answer(http.StatusUnauthorized, api.Error{Error: "missing or wrong bearer secret"})
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if v := s.planSchema.Validate(raw); len(v) > 0 {
		answer(http.StatusBadRequest, api.Error{Error: "contract violation: " + strings.Join(v, "; ")})
		return
	}
	var p api.Plan
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		answer(http.StatusBadRequest, api.Error{Error: "body does not decode: " + err.Error()})
		return
	}
	switch {
	case p.Author != who:
		answer(http.StatusForbidden, api.Error{Error: "the plan's author is not the identity of the bearer secret"})
		return
	case p.PlanID != "":
		answer(http.StatusBadRequest, api.Error{Error: "a plan to register has no plan_id yet"})
		return
	}
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	if !now.Before(p.ExpiresAt) {
		answer(http.StatusConflict, api.Error{Error: "the plan has expired"})
		return
	}
	reg := registered{author: who, digest: p.Digest, expiresAt: p.ExpiresAt, items: map[string]string{}}
	for _, it := range p.Items {
		reg.items[it.Namespace] = it.EvidenceDigest
	}
	id := uuid.NewString()
	s.mu.Lock()
	s.plans[id] = reg
	s.mu.Unlock()
	answer(http.StatusCreated, api.PlanRegistration{PlanID: id, Author: who})
}
