package plugin

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
)

// These tests run whole reclaims in process: `kubectl orphans reclaim`
// against a stub exporter that can lie, the deprovision stand-in that can
// misbehave, and a fake API server for the caller's identity.

// tok returns the i-th test token.
func tok(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func nsOf(i int) string { return "instant-customer-" + tok(i) }

// redis is a reclaimable redis candidate, as an honest exporter lists it.
func redis(i int) api.Candidate {
	return candidate(tok(i), api.KindRedis, "redis", true, 72*time.Hour)
}

type reclaimBed struct {
	t         *testing.T
	exp       *exporterStub
	dp        *deprovisiontest.Server
	cluster   *fakeCluster
	tokenFile string
}

// newReclaimBed lists cands (both safety flags on) and starts the stand-in.
func newReclaimBed(t *testing.T, cands ...api.Candidate) *reclaimBed {
	t.Helper()
	doc := document()
	doc.Candidates = cands
	b := &reclaimBed{t: t, exp: newExporterStub(t, doc), dp: deprovisiontest.New(t, testSecret, testActor), cluster: newFakeCluster(t, false)}
	b.tokenFile = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(b.tokenFile, []byte(testSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDeprovisionURL, "")
	t.Setenv(EnvDeprovisionToken, "")
	return b
}

func (b *reclaimBed) args(extra ...string) []string {
	return append([]string{"reclaim", "--exporter-url", b.exp.URL, "--deprovision-url", b.dp.URL,
		"--deprovision-token-file", b.tokenFile, "--reason", "OPS-1", "--kubeconfig", b.cluster.kubeconfig, "--max", "50"}, extra...)
}

// reclaim runs `reclaim --yes -o json` with extra arguments and decodes the report.
func (b *reclaimBed) reclaim(extra ...string) (ReclaimReport, string, error) {
	b.t.Helper()
	out, errOut, err := run(b.t, b.args(append(extra, "--yes", "-o", "json")...)...)
	for _, s := range []string{out, errOut} {
		if strings.Contains(s, testSecret) {
			b.t.Fatalf("the secret leaked:\n%s", s)
		}
	}
	var rep ReclaimReport
	if out != "" {
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
			b.t.Fatalf("report: %v\n%s", jerr, out)
		}
	}
	if v := b.dp.Violations(); len(v) > 0 {
		b.t.Fatalf("the plugin broke the contract:\n%s", strings.Join(v, "\n"))
	}
	return rep, errOut, err
}

// sentFor returns the deprovision requests the stand-in received for ns.
func (b *reclaimBed) sentFor(ns string) []deprovisiontest.Request {
	var out []deprovisiontest.Request
	for _, r := range b.dp.Requests() {
		if r.Body.ProviderResourceID == ns {
			out = append(out, r)
		}
	}
	return out
}

// results lists "result" or "result/why" per outcome.
func results(rep ReclaimReport) []string {
	var out []string
	for _, o := range rep.Outcomes {
		r := o.Result
		if o.Why != "" {
			r += "/" + o.Why
		}
		out = append(out, r)
	}
	return out
}

func wantResults(t *testing.T, rep ReclaimReport, errOut string, want ...string) {
	t.Helper()
	if got := results(rep); !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v\n%+v\n%s", got, want, rep.Outcomes, errOut)
	}
}

// A lying exporter gets nothing sent: every claim is checked by the plugin.
func TestReclaimDoesNotTrustTheExporter(t *testing.T) {
	lies := []struct {
		name string
		lie  func(c *api.Candidate)
	}{
		{"token is not the namespace's", func(c *api.Candidate) { c.Token = tok(900) }},
		{"verdict about another namespace", func(c *api.Candidate) { c.Namespace = nsOf(901) }},
		{"type not in --types", func(c *api.Candidate) { c.ResourceType, c.Kind = "postgres", api.KindCustomer }},
		{"no_row", func(c *api.Candidate) { c.Reason, c.LastStatus, c.ResourceType = api.ReasonNoRow, "", "" }},
		{"unknown status", func(c *api.Candidate) { c.Reason, c.LastStatus = api.ReasonUnknownStatus, "Deleted" }},
		{"no evidence digest", func(c *api.Candidate) { c.EvidenceDigest = "" }},
		{"no namespace uid", func(c *api.Candidate) { c.NamespaceUID = "" }},
		{"contents never read", func(c *api.Candidate) { c.Contents = nil }},
		{"contents read failed", func(c *api.Candidate) { c.Contents.Error = "pods is forbidden" }},
		{"last change unknown", func(c *api.Candidate) { c.Contents.LastChangeAt = time.Time{} }},
		{"terminating", func(c *api.Candidate) { c.Terminating = true }},
	}
	var cands []api.Candidate
	for i := range lies {
		cands = append(cands, redis(i+1))
	}
	honest := redis(100)
	notReclaimable := redis(101)
	live, gone := redis(102), redis(103)
	// A namespace outside the plugin's prefix, which the exporter lists as
	// its own (its prefix is "tenant-").
	foreign := candidate(tok(104), api.KindRedis, "redis", true, 72*time.Hour)
	foreign.Namespace = "tenant-" + tok(104)
	b := newReclaimBed(t, append(cands, honest, notReclaimable, live, gone, foreign)...)
	for i, l := range lies {
		c := redis(i + 1)
		l.lie(&c)
		b.exp.claim(nsOf(i+1), c)
	}
	nr := notReclaimable
	nr.Reclaimable, nr.NotReclaimableReason = false, api.NotReclaimableEvidenceChanged
	b.exp.claim(nr.Namespace, nr)
	b.exp.answer(live.Namespace, fresh{status: 404, body: api.NotCandidate{Why: api.WhyLive}})
	b.exp.answer(gone.Namespace, fresh{status: 404, body: api.NotCandidate{Why: api.WhyNotFound}})

	var targets []string
	var want []string
	for i := range lies {
		targets = append(targets, nsOf(i+1))
		want = append(want, OutcomeSkipped+"/"+WhyUnverifiedClaim)
	}
	targets = append(targets, foreign.Namespace, nr.Namespace, live.Namespace, gone.Namespace, honest.Namespace)
	want = append(want, OutcomeSkipped+"/"+WhyUnverifiedClaim, OutcomeSkipped+"/"+WhyNotReclaimable,
		OutcomeSkipped+"/"+WhyLive, OutcomeSkipped+"/"+WhyNotReclaimable, OutcomeReclaimed)
	rep, errOut, err := b.reclaim(targets...)
	if err != nil {
		t.Fatalf("skipped targets are not failures: %v\n%s", err, errOut)
	}
	wantResults(t, rep, errOut, want...)
	got := b.dp.Requests()
	if len(got) != 1 || got[0].Body.ProviderResourceID != honest.Namespace {
		t.Fatalf("sent %d requests, want only %s's: %+v", len(got), honest.Namespace, got)
	}
	for i, l := range lies {
		if d := rep.Outcomes[i].Detail; !strings.Contains(d, "the exporter calls it reclaimable, but") || strings.Contains(d, tok(i+1)) {
			t.Errorf("%s: detail %q", l.name, d)
		}
	}
	// The plan showed which listed targets fail the plugin's checks.
	if !strings.Contains(errOut, "fails the plugin's checks") {
		t.Errorf("plan:\n%s", errOut)
	}

	// With the exporter's prefix and types, the foreign one passes.
	b.exp.claim(foreign.Namespace, foreign)
	rep, errOut, err = b.reclaim(foreign.Namespace, "--namespace-prefix", "tenant-", "--types", "redis,postgres")
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeReclaimed)
}

// The evidence must be the evidence the operator confirmed.
func TestReclaimSkipsChangedEvidence(t *testing.T) {
	listed := redis(1)
	b := newReclaimBed(t, listed)
	changed := listed
	changed.EvidenceDigest = digestOf("a row was added since")
	b.exp.claim(listed.Namespace, changed)
	unlisted := redis(2)
	b.exp.claim(unlisted.Namespace, unlisted)
	rep, errOut, err := b.reclaim(listed.Namespace, unlisted.Namespace)
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeSkipped+"/"+WhyChanged, OutcomeSkipped+"/"+WhyChanged)
	if n := len(b.dp.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// Requests carry the evidence, and the same evidence gets the same key in
// every run.
func TestReclaimKeyFollowsTheEvidence(t *testing.T) {
	a, c := redis(1), redis(2)
	b := newReclaimBed(t, a, c)
	rep, errOut, err := b.reclaim(a.Namespace, c.Namespace)
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeReclaimed, OutcomeReclaimed)
	if rep.Context != testContext || rep.Actor != testActor {
		t.Fatalf("report header %+v", rep)
	}
	first := b.dp.Keys()
	// Another run, another reason: the same evidence, the same keys.
	rep, errOut, err = b.reclaim(a.Namespace, c.Namespace, "--reason", "OPS-2 second try")
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeReclaimed, OutcomeReclaimed)
	keys := b.dp.Keys()
	if len(keys) != 4 || !slices.Equal(keys[:2], keys[2:]) || !slices.Equal(first, keys[:2]) {
		t.Fatalf("keys %v", keys)
	}
	for i, cand := range []api.Candidate{a, c} {
		reqs := b.sentFor(cand.Namespace)
		want := deprovision.RequestID(cand.NamespaceUID, cand.EvidenceDigest, false)
		for _, r := range reqs {
			ev := r.Body.Evidence
			if r.IdempotencyKey != want || r.Body.RequestID != want || ev.NamespaceUID != cand.NamespaceUID ||
				ev.EvidenceDigest != cand.EvidenceDigest || r.Body.Token != cand.Token || r.Body.Actor != testActor || r.Body.DryRun {
				t.Fatalf("request %d: %+v", i, r.Body)
			}
		}
		if !reqs[1].Replayed {
			t.Fatalf("the second run's request for %s was not a replay", cand.Namespace)
		}
		if rep.Outcomes[i].RequestID != want {
			t.Fatalf("report request id %s", rep.Outcomes[i].RequestID)
		}
	}
	// New evidence, new key.
	moved := a
	moved.EvidenceDigest = digestOf("new rows")
	b.exp.list(moved, c)
	if _, errOut, err := b.reclaim(a.Namespace); err != nil {
		t.Fatal(err, errOut)
	}
	if k := b.dp.Keys()[4]; k == first[0] || k != deprovision.RequestID(a.NamespaceUID, moved.EvidenceDigest, false) {
		t.Fatalf("key for new evidence %s", k)
	}
}

// Answers nobody can read stop the run: the next target is not attempted.
func TestReclaimStopsOnUncertainOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []deprovisiontest.Response
		args   []string
	}{
		{"202", []deprovisiontest.Response{{Status: http.StatusAccepted}}, nil},
		{"200 that does not decode", []deprovisiontest.Response{{Body: "OK"}}, nil},
		{"a real run answered as a dry run", []deprovisiontest.Response{{Body: api.DeprovisionResponse{Deprovisioned: true, AuditID: "a-1", DryRun: true}}}, nil},
		{"hangs past the timeout, twice", []deprovisiontest.Response{{Delay: 5 * time.Second}}, []string{"--deprovision-timeout", "150ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, second := redis(1), redis(2)
			b := newReclaimBed(t, first, second)
			b.dp.Respond(first.Namespace, tc.script...)
			rep, errOut, err := b.reclaim(append([]string{first.Namespace, second.Namespace}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), "uncertain") {
				t.Fatalf("err %v", err)
			}
			wantResults(t, rep, errOut, OutcomeUncertain, OutcomeNotAttempted)
			if n := b.exp.freshChecks(second.Namespace); n != 0 || len(b.sentFor(second.Namespace)) != 0 {
				t.Fatalf("the run went on after an uncertain outcome")
			}
			if !strings.Contains(errOut, "1 uncertain, 1 not-attempted.") {
				t.Fatalf("summary:\n%s", errOut)
			}
		})
	}
}

// Once an attempt went out without a definite answer, the platform may
// have acted on it: whatever non-200 answer follows is uncertain, never
// skipped or failed. A Warning Event says so, and the run stops.
func TestReclaimAfterAnIndefiniteAttemptIsUncertain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []deprovisiontest.Response
	}{
		{"sleeps past the deadline, then 409", []deprovisiontest.Response{{Delay: 5 * time.Second}, {Status: http.StatusConflict, Body: api.Error{Error: "already being deprovisioned"}}}},
		{"504 twice", []deprovisiontest.Response{{Status: http.StatusGatewayTimeout}}},
		{"sleeps past the deadline, then 422 for the reused key", []deprovisiontest.Response{{Delay: 5 * time.Second}, {Status: http.StatusUnprocessableEntity, Body: api.Error{Error: "Idempotency-Key in use"}}}},
		{"502, then 403", []deprovisiontest.Response{{Status: http.StatusBadGateway}, {Status: http.StatusForbidden}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, second := redis(1), redis(2)
			b := newReclaimBed(t, first, second)
			b.dp.Respond(first.Namespace, tc.script...)
			rep, errOut, err := b.reclaim(first.Namespace, second.Namespace, "--deprovision-timeout", "300ms")
			if err == nil {
				t.Fatalf("exit 0 after an uncertain outcome\n%s", errOut)
			}
			wantResults(t, rep, errOut, OutcomeUncertain, OutcomeNotAttempted)
			if d := rep.Outcomes[0].Detail; !strings.Contains(d, "without a definite answer") && !strings.Contains(d, "no answer after the request went out") {
				t.Fatalf("detail %q", d)
			}
			if len(b.sentFor(second.Namespace)) != 0 || b.exp.freshChecks(second.Namespace) != 0 {
				t.Fatal("the run went on after an uncertain outcome")
			}
			evs := b.cluster.recorded()
			if len(evs) != 1 || evs[0].Type != corev1.EventTypeWarning || evs[0].Reason != EventReclaimFailed || !strings.Contains(evs[0].Message, "uncertain") {
				t.Fatalf("events %+v", evs)
			}
		})
	}
}

// A 5xx is retried once with the same key; two 5xx make a failure, and
// the run goes on.
func TestReclaimFailsAfterTwo5xx(t *testing.T) {
	broken, next := redis(1), redis(2)
	b := newReclaimBed(t, broken, next)
	b.dp.Respond(broken.Namespace, deprovisiontest.Response{Status: http.StatusInternalServerError})
	rep, errOut, err := b.reclaim(broken.Namespace, next.Namespace)
	if err == nil {
		t.Fatal("a failed target must fail the run")
	}
	wantResults(t, rep, errOut, OutcomeFailed, OutcomeReclaimed)
	reqs := b.sentFor(broken.Namespace)
	if len(reqs) != 2 || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey || rep.Outcomes[0].Attempts != 2 {
		t.Fatalf("retry: %+v", reqs)
	}
}

// Two targets in a row ending failed stop the run; skipped targets
// neither count nor reset, a success resets.
func TestReclaimStopsAfterTwoFailuresInARow(t *testing.T) {
	exporterDown := fresh{status: http.StatusInternalServerError, body: api.Error{Error: "ledger: connection refused"}}
	notDone := deprovisiontest.Response{Body: api.DeprovisionResponse{AuditID: "a-x", Message: "backend busy"}}
	t.Run("fail, skip, fail: stop", func(t *testing.T) {
		a, s, c, d := redis(1), redis(2), redis(3), redis(4)
		b := newReclaimBed(t, a, s, c, d)
		b.exp.answer(a.Namespace, exporterDown)
		b.exp.answer(s.Namespace, fresh{status: 404, body: api.NotCandidate{Why: api.WhyLive}})
		b.dp.Respond(c.Namespace, notDone)
		rep, errOut, err := b.reclaim(a.Namespace, s.Namespace, c.Namespace, d.Namespace)
		if err == nil || !strings.Contains(err.Error(), "two targets in a row failed") {
			t.Fatalf("err %v", err)
		}
		wantResults(t, rep, errOut, OutcomeFailed, OutcomeSkipped+"/"+WhyLive, OutcomeFailed, OutcomeNotAttempted)
		if b.exp.freshChecks(d.Namespace) != 0 {
			t.Fatal("the fourth target was checked")
		}
	})
	t.Run("fail, success, fail: go on", func(t *testing.T) {
		a, ok, c, d := redis(1), redis(2), redis(3), redis(4)
		b := newReclaimBed(t, a, ok, c, d)
		b.exp.answer(a.Namespace, exporterDown)
		b.dp.Respond(c.Namespace, notDone)
		rep, errOut, err := b.reclaim(a.Namespace, ok.Namespace, c.Namespace, d.Namespace)
		if err == nil || strings.Contains(err.Error(), "run stopped") {
			t.Fatalf("err %v", err)
		}
		wantResults(t, rep, errOut, OutcomeFailed, OutcomeReclaimed, OutcomeFailed, OutcomeReclaimed)
	})
}

// The exporter limits concurrent fresh checks with 429: wait and ask again.
func TestReclaimRetriesBusyFreshChecks(t *testing.T) {
	busy := fresh{status: http.StatusTooManyRequests, body: api.Error{Error: "too many fresh checks"}, retryAfter: "0"}
	a, c := redis(1), redis(2)
	b := newReclaimBed(t, a, c)
	b.exp.answer(a.Namespace, busy, busy, busy, fresh{status: 200, body: a})
	b.exp.answer(c.Namespace, busy)
	rep, errOut, err := b.reclaim(a.Namespace, c.Namespace)
	if err == nil {
		t.Fatal("a fresh check that stays busy must fail the run")
	}
	wantResults(t, rep, errOut, OutcomeReclaimed, OutcomeFailed)
	if n, m := b.exp.freshChecks(a.Namespace), b.exp.freshChecks(c.Namespace); n != 4 || m != 4 {
		t.Fatalf("fresh checks %d and %d, want 4 each (three retries)", n, m)
	}
	if !strings.Contains(rep.Outcomes[1].Detail, "429") || len(b.sentFor(c.Namespace)) != 0 {
		t.Fatalf("busy target: %+v", rep.Outcomes[1])
	}
}

func TestReclaimServerDryRun(t *testing.T) {
	a, c := redis(1), redis(2)
	t.Run("confirmed by the platform", func(t *testing.T) {
		b := newReclaimBed(t, a, c)
		rep, errOut, err := b.reclaim(a.Namespace, c.Namespace, "--dry-run=server")
		if err != nil {
			t.Fatal(err, errOut)
		}
		wantResults(t, rep, errOut, OutcomeDryRunOK, OutcomeDryRunOK)
		for _, r := range b.dp.Requests() {
			if !r.Body.DryRun || r.IdempotencyKey != deprovision.RequestID(r.Body.Evidence.NamespaceUID, r.Body.Evidence.EvidenceDigest, true) {
				t.Fatalf("dry-run request %+v", r.Body)
			}
			if r.IdempotencyKey == deprovision.RequestID(r.Body.Evidence.NamespaceUID, r.Body.Evidence.EvidenceDigest, false) {
				t.Fatal("a dry run shares the real run's key")
			}
		}
		if b.dp.CapabilityQueries() != 1 {
			t.Fatalf("%d capability queries", b.dp.CapabilityQueries())
		}
	})
	t.Run("the platform ignores dry_run", func(t *testing.T) {
		b := newReclaimBed(t, a, c)
		b.dp.IgnoreDryRun()
		rep, errOut, err := b.reclaim(a.Namespace, c.Namespace, "--dry-run=server")
		if err == nil || !strings.Contains(err.Error(), "did not confirm a dry run") {
			t.Fatalf("err %v", err)
		}
		wantResults(t, rep, errOut, OutcomeFailed, OutcomeNotAttempted)
		if len(b.sentFor(c.Namespace)) != 0 {
			t.Fatal("the run went on after an unconfirmed dry run")
		}
	})
	for name, caps := range map[string]deprovisiontest.Response{
		"capabilities without dry_run": {Body: map[string]any{}},
		"dry_run false":                {Body: api.Capabilities{DryRun: false}},
		"no capabilities endpoint":     {Status: http.StatusNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			b := newReclaimBed(t, a, c)
			b.dp.SetCapabilities(caps)
			_, errOut, err := b.reclaim(a.Namespace, "--dry-run=server")
			if err == nil || !strings.Contains(err.Error(), "refusing a server dry run") || !strings.Contains(err.Error(), "nothing was sent") {
				t.Fatalf("err %v\n%s", err, errOut)
			}
			if n := len(b.dp.Requests()); n != 0 || b.dp.CapabilityQueries() != 1 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
	t.Run("client dry run sends nothing", func(t *testing.T) {
		b := newReclaimBed(t, a)
		rep, errOut, err := b.reclaim(a.Namespace, "--dry-run=client")
		if err != nil {
			t.Fatal(err, errOut)
		}
		wantResults(t, rep, errOut, OutcomeDryRunOK)
		if len(b.dp.Requests()) != 0 || b.dp.CapabilityQueries() != 0 {
			t.Fatal("a client dry run contacted the platform")
		}
		if r := rep.Outcomes[0].Request; r == nil || r.RequestID != deprovision.RequestID(a.NamespaceUID, a.EvidenceDigest, false) {
			t.Fatalf("the request shown: %+v", r)
		}
	})
}

// Every answer of the exporter carries tenant tokens and reclaim acts on its
// verdicts, so no command reads it over a first hop anybody on the path
// could read or impersonate (TestReadersRefuseAnInsecureFirstHop has list,
// ghosts and plan show); reclaim works over https with a CA file and
// through a verified API server.
func TestReclaimNeedsAnAuthenticatedExporter(t *testing.T) {
	a := redis(1)
	b := newReclaimBed(t, a)

	tlsExp := httptest.NewTLSServer(b.exp)
	t.Cleanup(tlsExp.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsExp.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, errOut, err := b.reclaim(a.Namespace, "--exporter-url", tlsExp.URL, "--exporter-ca-file", caFile)
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeReclaimed)
	if _, _, err := b.reclaim(a.Namespace, "--exporter-url", "http://192.0.2.10:9866"); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("plain http: %v", err)
	}

	// Through the service proxy: the kubeconfig's cluster is the first hop.
	proxied := newFakeCluster(t, false)
	proxied.exporter = b.exp
	proxied.systemUID = b.cluster.systemUID
	base := []string{"reclaim", a.Namespace, "--deprovision-url", b.dp.URL, "--deprovision-token-file", b.tokenFile,
		"--reason", "OPS-1", "--yes", "-o", "json"}
	out, errOut, err := run(t, append(base, "--kubeconfig", proxied.kubeconfig)...)
	if err != nil || !strings.Contains(out, `"result": "reclaimed"`) {
		t.Fatalf("through the proxy: %v\n%s%s", err, out, errOut)
	}
	insecure := newFakeCluster(t, true)
	insecure.exporter = b.exp
	_, _, err = run(t, append(base, "--kubeconfig", insecure.kubeconfig)...)
	if err == nil || !strings.Contains(err.Error(), "insecure-skip-tls-verify") || !strings.Contains(err.Error(), "API server") {
		t.Fatalf("insecure kubeconfig: %v", err)
	}
	_, _, err = run(t, append(base, "--kubeconfig", proxied.kubeconfig, "--insecure-skip-tls-verify")...)
	if err == nil || !strings.Contains(err.Error(), "insecure-skip-tls-verify") {
		t.Fatalf("--insecure-skip-tls-verify: %v", err)
	}
	if n := len(b.dp.Requests()); n != 2 {
		t.Fatalf("%d requests, want the two accepted runs'", n)
	}
	if n := insecure.proxied(); n != 0 {
		t.Fatalf("%d requests reached the exporter through an unverified API server", n)
	}
}

// The confirmation screen shows what each target holds, as the exporter
// last read it.
func TestReclaimScreenShowsContents(t *testing.T) {
	b := newReclaimBed(t, redis(1))
	rep, errOut, err := b.reclaim(nsOf(1))
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeReclaimed)
	if h := rep.Outcomes[0].Held; h == nil || h.Pods != 3 || h.PVCs != 1 || h.StorageRequestedBytes != 10<<30 {
		t.Fatalf("the report does not say what the namespace held: %+v", h)
	}
	var header, row string
	for _, l := range strings.Split(errOut, "\n") {
		f := strings.Join(strings.Fields(l), " ")
		switch {
		case strings.HasPrefix(f, "NAMESPACE "):
			header = f
		case strings.HasPrefix(f, "instant-customer-00000001"):
			row = f
		}
	}
	if !strings.Contains(header, "SEEN PODS PVCS STORAGE LAST-CHANGE EVIDENCE") || !strings.Contains(row, " 4 2/3 1 10Gi 3d ") {
		t.Fatalf("screen without contents:\n%s", errOut)
	}
}

// A verdict the exporter calls reclaimable is still skipped below the
// plugin's own floors; a lowered floor is shown and travels in the evidence.
func TestReclaimFloors(t *testing.T) {
	young := redis(1)
	young.EvidenceSince = time.Now().Add(-2 * time.Hour)
	b := newReclaimBed(t, young, redis(2))
	b.exp.mu.Lock()
	b.exp.doc.Policy.Weakened = []string{"reclaim.min-evidence-age"}
	b.exp.mu.Unlock()
	rep, errOut, err := b.reclaim("--all")
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeSkipped+"/"+WhyBelowFloor, OutcomeReclaimed)
	reqs := b.dp.Requests()
	if len(reqs) != 1 || reqs[0].Body.ProviderResourceID != nsOf(2) || reqs[0].Body.Evidence.Floors != nil {
		t.Fatalf("requests at the default floors: %+v", reqs)
	}
	if !strings.Contains(rep.Outcomes[0].Detail, "--min-evidence-age 24h") || strings.Contains(errOut, "LOWERED") {
		t.Fatalf("detail %q\n%s", rep.Outcomes[0].Detail, errOut)
	}
	if !strings.Contains(errOut, "guards weakened below their defaults: reclaim.min-evidence-age") {
		t.Fatalf("the exporter's weakened guards are not shown:\n%s", errOut)
	}

	b = newReclaimBed(t, young)
	rep, errOut, err = b.reclaim("--all", "--min-evidence-age", "1h")
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, OutcomeReclaimed)
	reqs = b.dp.Requests()
	if len(reqs) != 1 || reqs[0].Body.Evidence.Floors == nil {
		t.Fatalf("a lowered floor was not sent: %+v", reqs)
	}
	if f := reqs[0].Body.Evidence.Floors; f.MinEvidenceAgeSeconds != 3600 || !slices.Equal(f.Lowered, []string{"min-evidence-age"}) || f.QuietPeriodSeconds != 86400 {
		t.Fatalf("floors sent %+v", f)
	}
	if !strings.Contains(errOut, "LOWERED below the defaults: [min-evidence-age]") {
		t.Fatalf("the lowered floor is not on the confirmation screen:\n%s", errOut)
	}

	// plan applies the floors too.
	b = newReclaimBed(t, young)
	if _, _, err := run(t, append(b.planArgs(), nsOf(1))...); err == nil || !strings.Contains(err.Error(), WhyBelowFloor) {
		t.Fatalf("plan of a target below a floor: %v", err)
	}
}
