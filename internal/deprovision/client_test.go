package deprovision_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
)

const secret = "s3cr3t-Bearer-value-9f8e7d"

func request(ns string) api.DeprovisionRequest {
	now := time.Now().UTC().Truncate(time.Second)
	uid := uuid.NewSHA1(uuid.NameSpaceOID, []byte(ns)).String()
	digest := fmt.Sprintf("%x", sha256.Sum256([]byte(ns)))
	return api.DeprovisionRequest{
		RequestID:          deprovision.RequestID(uid, digest, false),
		Token:              strings.TrimPrefix(ns, "instant-customer-"),
		ResourceType:       "redis",
		ProviderResourceID: ns,
		Actor:              "alice",
		Reason:             "ticket OPS-1: leaked by failed teardown",
		Evidence: api.Evidence{
			Namespace: ns, Reason: api.ReasonTerminal, LastStatus: "deleted",
			NamespaceCreatedAt: now.Add(-48 * time.Hour), FirstSeenAt: now.Add(-time.Hour),
			ConsecutiveSweeps: 4, ConfirmedAt: now, NamespaceUID: uid, EvidenceDigest: digest,
		},
	}
}

// dryRun turns req into a dry run, with the dry run's own key.
func dryRun(req api.DeprovisionRequest) api.DeprovisionRequest {
	req.DryRun = true
	req.RequestID = deprovision.RequestID(req.Evidence.NamespaceUID, req.Evidence.EvidenceDigest, true)
	return req
}

func client(t *testing.T, url string, mod ...func(*deprovision.Config)) *deprovision.Client {
	t.Helper()
	cfg := deprovision.Config{URL: url, Secret: secret, Timeout: 2 * time.Second, RetryDelay: 10 * time.Millisecond, UserAgent: "kubectl-orphans/test"}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := deprovision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func noViolations(t *testing.T, s *deprovisiontest.Server) {
	t.Helper()
	if v := s.Violations(); len(v) > 0 {
		t.Fatalf("the client broke the contract:\n%s", strings.Join(v, "\n"))
	}
}

func TestDeprovisionReclaimed(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	c := client(t, s.URL+"/")
	req := request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000001")
	res, err := c.Deprovision(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Deprovisioned || res.AuditID == "" || res.Attempts != 1 || res.StatusCode != 200 {
		t.Fatalf("result %+v", res)
	}
	noViolations(t, s)
	got := s.Requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if !r.Authorized || r.IdempotencyKey != req.RequestID || r.Body.ProviderResourceID != req.ProviderResourceID ||
		r.Body.Actor != "alice" || r.Body.Reason != req.Reason || r.UserAgent != "kubectl-orphans/test" {
		t.Fatalf("recorded %+v", r)
	}
	if c.Endpoint() != s.URL+api.DeprovisionPath {
		t.Fatalf("endpoint %s", c.Endpoint())
	}
}

func TestDeprovisionStatusClasses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dryRun   bool
		script   []deprovisiontest.Response
		want     error
		ok       bool
		attempts int
	}{
		{"conflict is refused", false, []deprovisiontest.Response{{Status: 409, Body: api.Error{Error: "token is live"}}}, deprovision.ErrRefused, false, 1},
		{"401 is unauthorized", false, []deprovisiontest.Response{{Status: 401}}, deprovision.ErrUnauthorized, false, 1},
		{"403 is unauthorized", false, []deprovisiontest.Response{{Status: 403}}, deprovision.ErrUnauthorized, false, 1},
		{"200 false is not deprovisioned", false, []deprovisiontest.Response{{Body: api.DeprovisionResponse{AuditID: "a-1", Message: "backend busy"}}}, deprovision.ErrNotDeprovisioned, false, 1},
		{"5xx then 200 succeeds on the retry", false, []deprovisiontest.Response{{Status: 503}, {}}, nil, true, 2},
		{"500 twice fails after one retry", false, []deprovisiontest.Response{{Status: 500}}, nil, false, 2},
		{"504 twice is uncertain", false, []deprovisiontest.Response{{Status: 504}}, deprovision.ErrUncertain, false, 2},
		{"502, then 409 is uncertain", false, []deprovisiontest.Response{{Status: 502}, {Status: 409}}, deprovision.ErrUncertain, false, 2},
		{"503, then 403 is uncertain", false, []deprovisiontest.Response{{Status: 503}, {Status: 403}}, deprovision.ErrUncertain, false, 2},
		{"500, then 409 is refused", false, []deprovisiontest.Response{{Status: 500}, {Status: 409}}, deprovision.ErrRefused, false, 2},
		{"202 is uncertain, not retried", false, []deprovisiontest.Response{{Status: 202}}, deprovision.ErrUncertain, false, 1},
		{"204 is uncertain", false, []deprovisiontest.Response{{Status: 204}}, deprovision.ErrUncertain, false, 1},
		{"a 200 that does not decode is uncertain", false, []deprovisiontest.Response{{Body: "done!"}}, deprovision.ErrUncertain, false, 1},
		{"a real run answered as a dry run is uncertain", false, []deprovisiontest.Response{{Body: api.DeprovisionResponse{Deprovisioned: true, AuditID: "a-2", DryRun: true}}}, deprovision.ErrUncertain, false, 1},
		{"a dry run echoed", true, nil, nil, true, 1},
		{"a dry run answered without the echo", true, []deprovisiontest.Response{{Body: api.DeprovisionResponse{Deprovisioned: true, AuditID: "a-3"}}}, deprovision.ErrDryRunIgnored, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := deprovisiontest.New(t, secret, "alice")
			req := request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000002")
			if tc.dryRun {
				req = dryRun(req)
			}
			s.Respond(req.ProviderResourceID, tc.script...)
			res, err := client(t, s.URL).Deprovision(context.Background(), req)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != deprovision.ErrUncertain && errors.Is(err, deprovision.ErrUncertain) {
				t.Fatalf("err = %v is not uncertain", err)
			}
			if res.Attempts != tc.attempts {
				t.Fatalf("attempts %d, want %d", res.Attempts, tc.attempts)
			}
			got := s.Requests()
			if len(got) != tc.attempts {
				t.Fatalf("stand-in saw %d requests, want %d", len(got), tc.attempts)
			}
			for _, r := range got {
				if r.IdempotencyKey != req.RequestID || string(r.Raw) != string(got[0].Raw) {
					t.Fatalf("a retry changed the key or body: %q vs %q", r.IdempotencyKey, req.RequestID)
				}
			}
			noViolations(t, s)
		})
	}
}

// A dry run to a platform that ignores dry_run: it acted, and said nothing
// about it.
func TestDeprovisionDryRunIgnored(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	s.IgnoreDryRun()
	req := dryRun(request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000005"))
	_, err := client(t, s.URL).Deprovision(context.Background(), req)
	if !errors.Is(err, deprovision.ErrDryRunIgnored) {
		t.Fatalf("err %v", err)
	}
	noViolations(t, s)
}

// No answer after the request went out is uncertain, and so is every
// later answer but a 200: the platform may have worked on the request that
// timed out. No request out at all is a plain failure.
func TestDeprovisionWithoutAnswer(t *testing.T) {
	short := func(c *deprovision.Config) { c.Timeout = 150 * time.Millisecond }
	for _, tc := range []struct {
		name      string
		script    []deprovisiontest.Response
		uncertain bool
	}{
		{"hangs past the timeout twice", []deprovisiontest.Response{{Delay: 2 * time.Second}}, true},
		{"500, then hangs", []deprovisiontest.Response{{Status: 500}, {Delay: 2 * time.Second}}, true},
		{"hangs, then 500", []deprovisiontest.Response{{Delay: 2 * time.Second}, {Status: 500}}, true},
		{"hangs, then 409", []deprovisiontest.Response{{Delay: 2 * time.Second}, {Status: 409}}, true},
		{"hangs, then 422", []deprovisiontest.Response{{Delay: 2 * time.Second}, {Status: 422}}, true},
		{"hangs, then 401", []deprovisiontest.Response{{Delay: 2 * time.Second}, {Status: 401}}, true},
		{"hangs, then 200 not deprovisioned", []deprovisiontest.Response{{Delay: 2 * time.Second}, {Body: api.DeprovisionResponse{AuditID: "a-9", Message: "busy"}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := deprovisiontest.New(t, secret, "alice")
			req := request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000006")
			s.Respond(req.ProviderResourceID, tc.script...)
			res, err := client(t, s.URL, short).Deprovision(context.Background(), req)
			if err == nil || errors.Is(err, deprovision.ErrUncertain) != tc.uncertain || res.Attempts != 2 {
				t.Fatalf("err %v, attempts %d; want uncertain %v", err, res.Attempts, tc.uncertain)
			}
			// The later answer's class is not the outcome.
			if tc.uncertain && (errors.Is(err, deprovision.ErrRefused) || errors.Is(err, deprovision.ErrUnauthorized) || errors.Is(err, deprovision.ErrInvalidRequest)) {
				t.Fatalf("err %v is both uncertain and a definite answer", err)
			}
		})
	}
	// A port nobody listens on: the request never leaves.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res, err := client(t, "http://"+addr).Deprovision(context.Background(), request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000007"))
	if err == nil || errors.Is(err, deprovision.ErrUncertain) || res.Attempts != 2 {
		t.Fatalf("connection refused: err %v, attempts %d", err, res.Attempts)
	}
}

func TestCapabilities(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	c := client(t, s.URL)
	caps, err := c.Capabilities(context.Background())
	if err != nil || !caps.DryRun {
		t.Fatalf("default: %+v, %v", caps, err)
	}
	s.SetCapabilities(deprovisiontest.Response{Body: map[string]any{}})
	if caps, err := c.Capabilities(context.Background()); err != nil || caps.DryRun {
		t.Fatalf("without dry_run: %+v, %v", caps, err)
	}
	s.SetCapabilities(deprovisiontest.Response{Status: 404})
	if _, err := c.Capabilities(context.Background()); err == nil {
		t.Fatal("a 404 gave capabilities")
	}
	if n := s.CapabilityQueries(); n != 3 {
		t.Fatalf("%d capability queries", n)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("capability queries recorded as %d deprovision requests", n)
	}
	if _, err := client(t, s.URL, func(c *deprovision.Config) { c.Secret = "wrong" }).Capabilities(context.Background()); !errors.Is(err, deprovision.ErrUnauthorized) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestRequestID(t *testing.T) {
	run := deprovision.RequestID("uid-1", "d1", false)
	if run != deprovision.RequestID("uid-1", "d1", false) {
		t.Fatal("the key is not stable")
	}
	// The contract's derivation, spelled out.
	if want := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:orphans:uid-1:d1:run")).String(); run != want {
		t.Fatalf("key %s, want %s", run, want)
	}
	for _, other := range []string{deprovision.RequestID("uid-1", "d1", true), deprovision.RequestID("uid-2", "d1", false), deprovision.RequestID("uid-1", "d2", false)} {
		if other == run {
			t.Fatalf("different evidence, same key %s", run)
		}
	}
	if v := uuid.MustParse(run).Version(); v != 5 {
		t.Fatalf("version %d", v)
	}
}

func TestDeprovisionRetriesATimeoutWithTheSameKey(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	req := request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000003")
	s.Respond(req.ProviderResourceID, deprovisiontest.Response{Delay: time.Second}, deprovisiontest.Response{})
	res, err := client(t, s.URL, func(c *deprovision.Config) { c.Timeout = 200 * time.Millisecond }).Deprovision(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", res.Attempts)
	}
	// The stand-in records the slow request only once it has answered.
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := s.Requests()
	if len(got) != 2 || got[0].IdempotencyKey != got[1].IdempotencyKey {
		t.Fatalf("requests %+v", got)
	}
}

func TestDeprovisionCancelledIsNotRetried(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	req := request("instant-customer-0b6f1c3e-1111-4a4a-8a8a-000000000004")
	s.Respond(req.ProviderResourceID, deprovisiontest.Response{Delay: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := client(t, s.URL).Deprovision(ctx, req)
	if !errors.Is(err, context.DeadlineExceeded) || res.Attempts != 1 {
		t.Fatalf("err %v attempts %d", err, res.Attempts)
	}
}

func TestDeprovisionWrongSecretIsUnauthorized(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	_, err := client(t, s.URL, func(c *deprovision.Config) { c.Secret = "wrong" }).Deprovision(context.Background(), request("instant-customer-x1"))
	if !errors.Is(err, deprovision.ErrUnauthorized) {
		t.Fatalf("err %v", err)
	}
	if r := s.Requests(); len(r) != 1 || r[0].Authorized {
		t.Fatalf("requests %+v", r)
	}
}

func TestDeprovisionRefusesInvalidRequestsWithoutSending(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	c := client(t, s.URL)
	for name, mod := range map[string]func(*api.DeprovisionRequest){
		"empty provider_resource_id": func(r *api.DeprovisionRequest) { r.ProviderResourceID = "" },
		"provider id not namespace":  func(r *api.DeprovisionRequest) { r.ProviderResourceID = "instant-customer-other" },
		"request id not uuid":        func(r *api.DeprovisionRequest) { r.RequestID = "1" },
		"random request id":          func(r *api.DeprovisionRequest) { r.RequestID = uuid.NewString() },
		"dry run with the run's key": func(r *api.DeprovisionRequest) { r.DryRun = true },
		"no namespace uid":           func(r *api.DeprovisionRequest) { r.Evidence.NamespaceUID = "" },
		"no evidence digest":         func(r *api.DeprovisionRequest) { r.Evidence.EvidenceDigest = "" },
		"reason no_row":              func(r *api.DeprovisionRequest) { r.Evidence.Reason = api.ReasonNoRow },
		"no actor":                   func(r *api.DeprovisionRequest) { r.Actor = "" },
		"blank reason":               func(r *api.DeprovisionRequest) { r.Reason = "  " },
		"no resource type":           func(r *api.DeprovisionRequest) { r.ResourceType = "" },
		"no token":                   func(r *api.DeprovisionRequest) { r.Token = "" },
		"plan digest without author": func(r *api.DeprovisionRequest) { r.Evidence.PlanDigest = "abc" },
		"plan author without digest": func(r *api.DeprovisionRequest) { r.Evidence.PlanAuthor = "bob" },
		"self approved without plan": func(r *api.DeprovisionRequest) { r.Evidence.SelfApproved = true },
		"author approves unrecorded": func(r *api.DeprovisionRequest) {
			r.Evidence.PlanDigest, r.Evidence.PlanAuthor = "abc", r.Actor
		},
	} {
		req := request("instant-customer-y1")
		mod(&req)
		if _, err := c.Deprovision(context.Background(), req); !errors.Is(err, deprovision.ErrInvalidRequest) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d invalid requests were sent", n)
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	s := deprovisiontest.New(t, secret, "alice")
	req := request("instant-customer-z1")
	s.Respond(req.ProviderResourceID, deprovisiontest.Response{Status: 500, Body: api.Error{Error: "bad header: Bearer " + secret}})
	_, err := client(t, s.URL).Deprovision(context.Background(), req)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("err %v does not show where the secret was", err)
	}
	sec := deprovision.Secret(secret)
	for _, out := range []string{fmt.Sprint(sec), fmt.Sprintf("%s %v %+v %#v %q", sec, sec, sec, sec, sec), fmt.Sprintf("%+v", deprovision.Config{Secret: sec})} {
		if strings.Contains(out, secret) {
			t.Fatalf("formatted secret: %s", out)
		}
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var hit atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Add(1) }))
	defer other.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+api.DeprovisionPath, http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	_, err := client(t, redir.URL).Deprovision(context.Background(), request("instant-customer-r1"))
	if err == nil || hit.Load() != 0 {
		t.Fatalf("err %v, redirect target hit %d times", err, hit.Load())
	}
}

// The URL checks themselves are transport.ParseURL's; these are what the
// deprovision client adds.
func TestParseURL(t *testing.T) {
	if _, err := deprovision.ParseURL("https://platform.example/base"); err != nil {
		t.Fatal(err)
	}
	_, err := deprovision.ParseURL("https://user:pw@platform.example")
	if err == nil || strings.Contains(err.Error(), "pw@") || !strings.Contains(err.Error(), "--deprovision-token-file") {
		t.Fatalf("user information: %v", err)
	}
	if _, err := deprovision.ParseURL("ftp://platform.example"); err == nil || !strings.Contains(err.Error(), "deprovision URL") {
		t.Fatalf("bad scheme: %v", err)
	}
	// Plain http only to loopback: the bearer secret must not cross a network in clear.
	for raw, ok := range map[string]bool{"http://127.0.0.1:8080": true, "http://localhost:1": true, "http://platform.example": false, "http://10.1.2.3:80": false} {
		if _, err := deprovision.ParseURL(raw); (err == nil) != ok {
			t.Errorf("ParseURL(%s) = %v", raw, err)
		}
	}
	if _, err := deprovision.New(deprovision.Config{URL: "http://platform.example", Secret: secret}); err == nil || !strings.Contains(err.Error(), "use https") {
		t.Fatalf("New accepted plain http to a remote host: %v", err)
	}
	if _, err := deprovision.New(deprovision.Config{URL: "https://platform.example"}); err == nil {
		t.Fatal("New accepted an empty secret")
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(secret+"\n"), 0o600)
	if s, err := deprovision.SecretFromFile(good); err != nil || string(s) != secret {
		t.Fatalf("SecretFromFile = %q, %v", string(s), err)
	}
	for name, content := range map[string]string{"empty": "\n", "spaces": "two words\n", "control": "a\x01b"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		_, err := deprovision.SecretFromFile(p)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if content != "\n" && strings.Contains(err.Error(), strings.TrimSpace(content)) {
			t.Errorf("%s: error shows the content: %v", name, err)
		}
	}
	if _, err := deprovision.SecretFromFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// The stand-in enforces plans as the platform does, whatever the client
// sends: a plan is registered under its author's own identity; its author
// cannot approve it; a forged author, a forged expiry, an item added after
// registration or an expired plan are refused.
func TestStandInEnforcesPlans(t *testing.T) {
	ctx := context.Background()
	s := deprovisiontest.New(t, secret, "alice")
	const bobSecret = "b0b-Bearer-value-1a2b3c4d"
	s.AddIdentity(bobSecret, "bob")
	alice := client(t, s.URL)
	bob := client(t, s.URL, func(c *deprovision.Config) { c.Secret = bobSecret })
	ns := func(i int) string { return fmt.Sprintf("instant-customer-0b6f1c3e-2222-4a4a-8a8a-%012d", i) }
	item := func(n string) api.PlanItem {
		r := request(n)
		return api.PlanItem{Namespace: n, NamespaceUID: r.Evidence.NamespaceUID, Token: r.Token, ResourceType: r.ResourceType,
			EvidenceDigest: r.Evidence.EvidenceDigest, Reason: api.ReasonTerminal, LastStatus: "deleted"}
	}
	now := time.Now().UTC().Truncate(time.Second)
	plan := api.Plan{Version: api.PlanVersion, Digest: strings.Repeat("ab", 32), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		Author: "alice", Cluster: api.PlanCluster{UID: "c1"}, OperatorReason: "OPS-1", Items: []api.PlanItem{item(ns(1)), item(ns(2)), item(ns(3))}}
	status := func(err error) int {
		var se *deprovision.StatusError
		if errors.As(err, &se) {
			return se.StatusCode
		}
		return 0
	}

	forged := plan
	forged.Author = "bob"
	if _, err := alice.RegisterPlan(ctx, forged); status(err) != http.StatusForbidden {
		t.Fatalf("alice registered a plan as bob: %v", err)
	}
	reg, err := alice.RegisterPlan(ctx, plan)
	if err != nil || reg.PlanID == "" || reg.Author != "alice" {
		t.Fatalf("registration %+v, %v", reg, err)
	}
	s.RefuseSelfApproval()
	if _, err := alice.Deprovision(ctx, planned0(reg, plan, ns(1), "alice")); err == nil {
		t.Fatal("the client sent the author's own approval without self_approved")
	}
	planned := func(n, actor string) api.DeprovisionRequest { return planned0(reg, plan, n, actor) }
	for name, c := range map[string]struct {
		by   *deprovision.Client
		req  func() api.DeprovisionRequest
		want int
	}{
		"alice approves her own plan": {alice, func() api.DeprovisionRequest {
			r := planned(ns(1), "alice")
			r.Evidence.SelfApproved = true
			return r
		}, http.StatusForbidden},
		"bob sends as alice": {bob, func() api.DeprovisionRequest {
			r := planned(ns(1), "alice")
			r.Evidence.SelfApproved = true
			return r
		}, http.StatusForbidden},
		"forged author": {bob, func() api.DeprovisionRequest {
			r := planned(ns(1), "bob")
			r.Evidence.PlanAuthor = "carol"
			return r
		}, http.StatusForbidden},
		"forged expiry": {bob, func() api.DeprovisionRequest {
			r := planned(ns(1), "bob")
			later := plan.ExpiresAt.Add(24 * time.Hour)
			r.Evidence.PlanExpiresAt = &later
			return r
		}, http.StatusConflict},
		"added item": {bob, func() api.DeprovisionRequest { return planned(ns(4), "bob") }, http.StatusConflict},
		"changed evidence": {bob, func() api.DeprovisionRequest {
			r := planned(ns(1), "bob")
			r.Evidence.EvidenceDigest = strings.Repeat("cd", 32)
			r.RequestID = deprovision.RequestID(r.Evidence.NamespaceUID, r.Evidence.EvidenceDigest, false)
			return r
		}, http.StatusConflict},
		"unknown plan": {bob, func() api.DeprovisionRequest {
			r := planned(ns(1), "bob")
			r.Evidence.PlanID = "no-such-plan"
			return r
		}, http.StatusConflict},
	} {
		res, _ := c.by.Deprovision(ctx, c.req())
		if res.StatusCode != c.want {
			t.Errorf("%s: answered %d, want %d", name, res.StatusCode, c.want)
		}
	}
	if res, err := bob.Deprovision(ctx, planned(ns(2), "bob")); err != nil || !res.Deprovisioned {
		t.Fatalf("bob approves alice's plan: %+v, %v", res, err)
	}
	s.SetNow(func() time.Time { return plan.ExpiresAt })
	if res, _ := bob.Deprovision(ctx, planned(ns(3), "bob")); res.StatusCode != http.StatusConflict {
		t.Fatalf("an expired plan: answered %d", res.StatusCode)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Fatalf("violations %q", v)
	}
}

// planned0 is a request for namespace n by actor in a run of the
// registered plan.
func planned0(reg api.PlanRegistration, plan api.Plan, n, actor string) api.DeprovisionRequest {
	req := request(n)
	exp := plan.ExpiresAt
	req.Actor = actor
	req.Evidence.PlanID, req.Evidence.PlanDigest, req.Evidence.PlanAuthor, req.Evidence.PlanExpiresAt = reg.PlanID, plan.Digest, plan.Author, &exp
	return req
}
