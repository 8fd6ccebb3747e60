//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/plugin"
	"github.com/orphansweep/orphans/internal/testenv"
)

const reason = "OPS-4711 leaked by a failed teardown"

type reclaimBed struct {
	*scope
	e         *exporter
	dp        *deprovisiontest.Server
	secret    string
	tokenFile string
	tokens    []string
}

func newReclaimBed(t *testing.T, destructive bool) *reclaimBed {
	grantPlanRBAC(t)
	s := newScope(t)
	b := &reclaimBed{scope: s, secret: "e2e-deprovision-secret-" + uuid.NewString()}
	b.dp = deprovisiontest.New(t, b.secret, operator)
	b.tokenFile = filepath.Join(t.TempDir(), "deprovision-token")
	if err := os.WriteFile(b.tokenFile, []byte(b.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.e = s.startExporter(exporterOptions{enabled: true, destructive: destructive})
	return b
}

// redisOrphan makes a namespace whose ledger proves a deleted redis.
func (b *reclaimBed) redisOrphan() (ns, tok string) {
	ns, tok = b.tenant()
	b.rows(testenv.Row{Token: tok, Status: "deleted", ResourceType: "redis"})
	b.tokens = append(b.tokens, tok)
	return ns, tok
}

// waitReclaimable waits until the exporter lists every ns as reclaimable
// (or, with destructive off, as a candidate).
func (b *reclaimBed) waitListed(reclaimable bool, nss ...string) {
	b.t.Helper()
	b.e.waitCandidates(b.t, "candidates listed", func(code int, doc api.Candidates) bool {
		m := byNamespace(doc)
		for _, ns := range nss {
			c, ok := m[ns]
			if code != http.StatusOK || !ok || c.Reclaimable != reclaimable {
				return false
			}
		}
		return true
	})
}

func (b *reclaimBed) reclaim(stdin string, env []string, args ...string) result {
	b.t.Helper()
	base := append([]string{"reclaim", "--exporter-url=" + b.e.URL, "--kubeconfig=" + bed.kubeconfig[operator]}, lowFloors...)
	r := kubectl(b.t, stdin, env, append(append([]string{"orphans"}, base...), args...)...)
	mustNotContain(b.t, "reclaim output", []string{r.stdout, r.stderr}, b.secret)
	return r
}

func (b *reclaimBed) requestsFor(ns string) []deprovisiontest.Request {
	var out []deprovisiontest.Request
	for _, r := range b.dp.Requests() {
		if r.Body.ProviderResourceID == ns {
			out = append(out, r)
		}
	}
	return out
}

// uid is the Namespace object's UID, as the API server has it.
func uid(t *testing.T, ns string) string {
	t.Helper()
	obj, err := bed.admin.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(obj.UID)
}

func decodeReport(t *testing.T, r result) plugin.ReclaimReport {
	t.Helper()
	var rep plugin.ReclaimReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, r)
	}
	return rep
}

func TestReclaimEndToEnd(t *testing.T) {
	b := newReclaimBed(t, true)
	ok1, tok1 := b.redisOrphan()
	turnsLive, liveTok := b.redisOrphan()
	refused, _ := b.redisOrphan()
	broken, _ := b.redisOrphan()
	noType, _ := b.tenant() // no ledger row: never reclaimable (no proven type)
	flaky, _ := b.redisOrphan()
	b.dp.Respond(refused, deprovisiontest.Response{Status: http.StatusConflict, Body: api.Error{Error: "token is live again"}})
	b.dp.Respond(broken, deprovisiontest.Response{Status: http.StatusInternalServerError})
	b.dp.Respond(flaky, deprovisiontest.Response{Status: http.StatusBadGateway}, deprovisiontest.Response{})
	b.waitListed(true, ok1, turnsLive, refused, broken, flaky)

	// The operator reviews the list, then the tenant comes back to life
	// before the reclaim runs.
	r := orphans(t, operator, nil, "list", "--exporter-url="+b.e.URL, "--reclaimable", "-o", "name")
	if r.code != 0 || !strings.Contains(r.stdout, "namespace/"+turnsLive+"\n") {
		t.Fatal(r)
	}
	b.rows(testenv.Row{Token: liveTok, Status: "active", ResourceType: "redis"})

	env := []string{plugin.EnvDeprovisionURL + "=" + b.dp.URL}
	targets := []string{ok1, turnsLive, refused, broken, noType, flaky}
	r = b.reclaim("", env, append(targets, "--reason="+reason, "--deprovision-token-file="+b.tokenFile, "--yes", "-o", "json")...)
	if r.code == 0 {
		t.Fatalf("a failed target must make the run fail:\n%s", r)
	}
	rep := decodeReport(t, r)
	if rep.Actor != operator || rep.Reason != reason || rep.Endpoint != b.dp.URL+api.DeprovisionPath {
		t.Fatalf("report header %+v", rep)
	}
	want := []struct{ ns, result, why, detail string }{
		{ok1, plugin.OutcomeReclaimed, "", "audit id audit-"},
		{turnsLive, plugin.OutcomeSkipped, plugin.WhyLive, "live row"},
		{refused, plugin.OutcomeSkipped, plugin.WhyConflict, "platform refused"},
		{broken, plugin.OutcomeFailed, "", "after retry with the same Idempotency-Key"},
		{noType, plugin.OutcomeSkipped, plugin.WhyNotReclaimable, "not reclaimable now: " + api.NotReclaimableNoProvenType},
		{flaky, plugin.OutcomeReclaimed, "", "audit id audit-"},
	}
	if len(rep.Outcomes) != len(want) {
		t.Fatalf("%d outcomes:\n%s", len(rep.Outcomes), r)
	}
	for i, w := range want {
		o := rep.Outcomes[i]
		if o.Namespace != w.ns || o.Result != w.result || o.Why != w.why || !strings.Contains(o.Detail, w.detail) {
			t.Errorf("outcome %d = %+v, want %s %s %q", i, o, w.result, w.why, w.detail)
		}
	}
	if !strings.Contains(r.stderr, "2 reclaimed, 3 skipped, 1 failed.") {
		t.Errorf("summary:\n%s", r.stderr)
	}
	if rep.Context != "envtest" {
		t.Errorf("report context %q", rep.Context)
	}

	// What the platform received.
	if v := b.dp.Violations(); len(v) > 0 {
		t.Fatalf("contract violations: %v", v)
	}
	for _, ns := range []string{turnsLive, noType} {
		if n := len(b.requestsFor(ns)); n != 0 {
			t.Fatalf("%s was sent %d times", ns, n)
		}
	}
	for ns, attempts := range map[string]int{ok1: 1, refused: 1, broken: 2, flaky: 2} {
		reqs := b.requestsFor(ns)
		if len(reqs) != attempts {
			t.Fatalf("%s: %d requests, want %d", ns, len(reqs), attempts)
		}
		var out plugin.Outcome
		for _, o := range rep.Outcomes {
			if o.Namespace == ns {
				out = o
			}
		}
		nsUID := uid(t, ns)
		for _, req := range reqs {
			body := req.Body
			ev := body.Evidence
			if !req.Authorized || req.IdempotencyKey != body.RequestID || req.IdempotencyKey != out.RequestID ||
				body.ProviderResourceID != ns || ev.Namespace != ns || body.Actor != operator ||
				body.Reason != reason || body.DryRun || body.ResourceType != "redis" || prefix+body.Token != ns ||
				ev.Reason != api.ReasonTerminal || ev.LastStatus != "deleted" || ev.ConfirmedAt.IsZero() {
				t.Fatalf("%s: request %+v (outcome %+v)", ns, req, out)
			}
			// The evidence names the Namespace object, and the key is the evidence's.
			if ev.NamespaceUID != nsUID || len(ev.EvidenceDigest) != 64 ||
				req.IdempotencyKey != deprovision.RequestID(nsUID, ev.EvidenceDigest, false) {
				t.Fatalf("%s: evidence %+v, key %s (namespace uid %s)", ns, ev, req.IdempotencyKey, nsUID)
			}
			if !strings.HasPrefix(req.UserAgent, "kubectl-orphans/"+testVersion) {
				t.Fatalf("user agent %q", req.UserAgent)
			}
		}
		if out.Attempts != attempts {
			t.Fatalf("%s: report says %d attempts", ns, out.Attempts)
		}
	}
	if reqs := b.requestsFor(ok1); reqs[0].Body.Token != tok1 {
		t.Fatalf("token %q", reqs[0].Body.Token)
	}

	// Another run on the same evidence, with another reason, sends
	// the same key; the platform answers with its first answer.
	r = b.reclaim("", env, ok1, "--reason=OPS-4712 second look", "--deprovision-token-file="+b.tokenFile, "--yes", "-o", "json")
	if r.code != 0 || decodeReport(t, r).Outcomes[0].Result != plugin.OutcomeReclaimed {
		t.Fatalf("second run:\n%s", r)
	}
	if reqs := b.requestsFor(ok1); len(reqs) != 2 || reqs[1].IdempotencyKey != reqs[0].IdempotencyKey || !reqs[1].Replayed {
		t.Fatalf("second run's request: %+v", reqs)
	}

	// The actor came from the API server: the operator's SelfSubjectReview is in its audit log.
	evs, err := bed.cp.AuditEvents(func(e testenv.AuditEvent) bool {
		return e.User.Username == operator && e.ObjectRef != nil && e.ObjectRef.Resource == "selfsubjectreviews" && e.Stage == "ResponseComplete"
	})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no SelfSubjectReview by %s in the audit log (%v)", operator, err)
	}
	mustNotContain(t, "the exporter's log", []string{b.e.log.String()}, append([]string{b.secret}, b.tokens...)...)
}

func TestReclaimStopsOnUnauthorized(t *testing.T) {
	b := newReclaimBed(t, true)
	first, _ := b.redisOrphan()
	second, _ := b.redisOrphan()
	b.dp.Respond(first, deprovisiontest.Response{Status: http.StatusUnauthorized})
	b.waitListed(true, first, second)
	r := b.reclaim("", []string{plugin.EnvDeprovisionToken + "=" + b.secret},
		first, second, "--deprovision-url="+b.dp.URL, "--reason="+reason, "--yes")
	if r.code == 0 {
		t.Fatal(r)
	}
	if n := len(b.requestsFor(second)); n != 0 {
		t.Fatalf("the run went on after a 401: %s was sent %d times", second, n)
	}
	if n := len(b.requestsFor(first)); n != 1 {
		t.Fatalf("%s: %d requests, want 1 (a 401 is not retried)", first, n)
	}
	// The human table masks tokens.
	mustNotContain(t, "the outcome table", []string{r.stdout, r.stderr}, b.tokens...)
	rows := lines(r.stdout)
	if len(rows) != 3 || strings.Join(strings.Fields(rows[0]), " ") != "NAMESPACE OUTCOME WHY DETAIL REQUEST-ID" {
		t.Fatalf("table:\n%s", r)
	}
	for i, w := range []struct{ ns, outcome string }{{first, "failed"}, {second, "not-attempted"}} {
		f := strings.Fields(rows[i+1])
		if !strings.HasPrefix(rows[i+1], logsafe.Namespace{Name: w.ns, Prefix: prefix}.String()) || f[2] != w.outcome {
			t.Fatalf("row %d %q, want %s", i+1, rows[i+1], w.outcome)
		}
	}
	if !strings.Contains(r.stdout, "401") || !strings.Contains(r.stderr, "1 failed, 1 not-attempted.") {
		t.Fatalf("%s", r)
	}
}

func TestReclaimRefusesAndDryRuns(t *testing.T) {
	b := newReclaimBed(t, true)
	a, _ := b.redisOrphan()
	c, _ := b.redisOrphan()
	d, _ := b.redisOrphan()
	b.waitListed(true, a, c, d)
	// A second exporter over the same namespaces with the destructive flag off.
	safe := b.startExporter(exporterOptions{enabled: true})
	safe.waitCandidates(t, "three candidates, none reclaimable", func(code int, doc api.Candidates) bool {
		return code == http.StatusOK && len(doc.Candidates) == 3 && !doc.DestructiveEnabled
	})
	creds := []string{"--deprovision-url=" + b.dp.URL, "--deprovision-token-file=" + b.tokenFile}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"destructive flag off", "", []string{"--exporter-url=" + safe.URL, a, "--reason=" + reason, "--yes"}, "destructive reclaim disabled"},
		{"destructive flag off, --all", "", []string{"--exporter-url=" + safe.URL, "--all", "--reason=" + reason, "--yes"}, "destructive reclaim disabled"},
		{"no terminal and no --yes", "3\n", []string{"--all", "--reason=" + reason}, "stdin is not a terminal; pass --yes"},
		{"above --max", "", []string{"--all", "--reason=" + reason, "--yes", "--max=2"}, "refusing to reclaim 3 namespaces in one run: --max is 2"},
		{"above --max, named", "", []string{a, c, d, "--reason=" + reason, "--yes", "--max=2"}, "--max is 2"},
		{"no reason", "", []string{a, "--yes"}, "--reason is required"},
		{"both targets and --all", "", []string{a, "--all", "--reason=" + reason, "--yes"}, "not both"},
		{"bad dry-run", "", []string{a, "--reason=" + reason, "--yes", "--dry-run=true"}, `--dry-run "true"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.reclaim(tc.stdin, nil, append(tc.args, creds...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want a refusal saying %q:\n%s", tc.want, r)
			}
		})
	}
	r := b.reclaim("", nil, a, "--reason="+reason, "--yes", "--deprovision-token-file="+b.tokenFile)
	if r.code == 0 || !strings.Contains(r.stderr, "no deprovision endpoint is configured") {
		t.Fatalf("no endpoint:\n%s", r)
	}
	if n := len(b.dp.Requests()); n != 0 {
		t.Fatalf("refused runs sent %d requests", n)
	}

	// --dry-run=client checks afresh and prints the requests, sending nothing.
	r = b.reclaim("", nil, append([]string{"--all", "--reason=" + reason, "--dry-run=client"}, creds...)...)
	if r.code != 0 || strings.Count(r.stdout, plugin.OutcomeDryRunOK) != 3 ||
		strings.Count(r.stdout, "POST "+b.dp.URL+api.DeprovisionPath) != 3 || !strings.Contains(r.stdout, `"provider_resource_id": "`+prefix) {
		t.Fatalf("dry run (client):\n%s", r)
	}
	mustNotContain(t, "the dry-run output", []string{r.stdout, r.stderr}, b.tokens...)
	r = b.reclaim("", nil, a, "--reason="+reason, "--dry-run=client", "-o", "json")
	rep := decodeReport(t, r)
	if r.code != 0 || len(rep.Outcomes) != 1 || rep.Outcomes[0].Request == nil || rep.Outcomes[0].Request.ProviderResourceID != a ||
		rep.Outcomes[0].Request.Actor != operator || rep.Outcomes[0].Request.DryRun || rep.Outcomes[0].Request.Evidence.NamespaceUID != uid(t, a) {
		t.Fatalf("dry run (client) json:\n%s", r)
	}
	if n := len(b.dp.Requests()); n != 0 || b.dp.CapabilityQueries() != 0 {
		t.Fatalf("--dry-run=client sent %d requests", n)
	}

	// --dry-run=server needs the same confirmation as a real run.
	r = b.reclaim("", nil, append([]string{a, c, "--reason=" + reason, "--dry-run=server"}, creds...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "stdin is not a terminal; pass --yes") {
		t.Fatalf("dry run (server) without --yes:\n%s", r)
	}
	// It asks the platform first, and sends nothing to one that does not
	// say it supports dry runs.
	b.dp.SetCapabilities(deprovisiontest.Response{Body: map[string]any{}})
	r = b.reclaim("", nil, append([]string{a, c, "--reason=" + reason, "--dry-run=server", "--yes"}, creds...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "refusing a server dry run") || len(b.dp.Requests()) != 0 || b.dp.CapabilityQueries() != 1 {
		t.Fatalf("dry run (server) without capabilities:\n%s", r)
	}
	// --dry-run=server sends dry_run: true, with the dry run's own key.
	b.dp.SetCapabilities(deprovisiontest.Response{Body: api.Capabilities{DryRun: true}})
	r = b.reclaim("", nil, append([]string{a, c, "--reason=" + reason, "--dry-run=server", "--yes"}, creds...)...)
	if r.code != 0 || strings.Count(r.stdout, plugin.OutcomeDryRunOK) != 2 {
		t.Fatalf("dry run (server):\n%s", r)
	}
	got := b.dp.Requests()
	if len(got) != 2 {
		t.Fatalf("--dry-run=server sent %d requests, want 2", len(got))
	}
	for _, req := range got {
		ev := req.Body.Evidence
		if !req.Body.DryRun || req.Body.ProviderResourceID == "" || req.IdempotencyKey != deprovision.RequestID(ev.NamespaceUID, ev.EvidenceDigest, true) {
			t.Fatalf("dry-run request %+v", req.Body)
		}
	}
	if v := b.dp.Violations(); len(v) > 0 {
		t.Fatalf("contract violations: %v", v)
	}
	mustNotContain(t, "the exporter's log", []string{b.e.log.String(), safe.log.String()}, b.secret)
}

// The test bed's exporter runs with every guard at its weakest (no grace,
// one confirmation, no evidence age, no quiet period) and calls a fresh
// orphan reclaimable at once; the plugin's own floors, at their defaults,
// send nothing, and plan writes nothing.
func TestReclaimAtDefaultFloorsSendsNothing(t *testing.T) {
	b := newReclaimBed(t, true)
	ns, _ := b.redisOrphan()
	b.waitListed(true, ns)
	env := []string{plugin.EnvDeprovisionURL + "=" + b.dp.URL}
	base := []string{"orphans", "reclaim", ns, "--exporter-url=" + b.e.URL, "--kubeconfig=" + bed.kubeconfig[operator],
		"--deprovision-token-file=" + b.tokenFile, "--reason=" + reason, "--yes", "-o", "json"}
	r := kubectl(t, "", env, base...)
	mustNotContain(t, "reclaim output", []string{r.stdout, r.stderr}, b.secret)
	rep := decodeReport(t, r)
	if len(rep.Outcomes) != 1 || rep.Outcomes[0].Result != plugin.OutcomeSkipped || rep.Outcomes[0].Why != plugin.WhyBelowFloor {
		t.Fatalf("outcomes %+v\n%s", rep.Outcomes, r)
	}
	if len(b.dp.Requests()) != 0 {
		t.Fatalf("sent %d requests at the plugin's default floors", len(b.dp.Requests()))
	}
	if !strings.Contains(r.stderr, "guards weakened below their defaults") {
		t.Fatalf("the exporter's weakened guards are not shown:\n%s", r)
	}
	p := orphans(t, operator, env, "plan", ns, "--exporter-url="+b.e.URL, "--deprovision-token-file="+b.tokenFile)
	if p.code == 0 || p.stdout != "" || !strings.Contains(p.stderr, plugin.WhyBelowFloor) {
		t.Fatalf("plan at the default floors:\n%s", p)
	}

	// Lowered, the floors are on the confirmation screen and in the evidence.
	r = kubectl(t, "", env, append(base, lowFloors...)...)
	reqs := b.requestsFor(ns)
	if r.code != 0 || len(reqs) != 1 || reqs[0].Body.Evidence.Floors == nil || len(reqs[0].Body.Evidence.Floors.Lowered) != 4 {
		t.Fatalf("requests %+v\n%s", reqs, r)
	}
	if !strings.Contains(r.stderr, "LOWERED below the defaults") {
		t.Fatalf("lowered floors not shown:\n%s", r)
	}
}
