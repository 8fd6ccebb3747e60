package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
)

func TestPlanDigestIsCanonical(t *testing.T) {
	p := api.Plan{
		Version: 1, CreatedAt: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC),
		Author: "alice", Cluster: api.PlanCluster{Context: "prod", Server: "https://k", UID: "u"}, OperatorReason: "OPS-1 <&>",
		Items: []api.PlanItem{{Namespace: nsOf(1), NamespaceUID: "x", Token: tok(1), ResourceType: "redis", EvidenceDigest: digestOf("1"), Reason: "terminal", LastStatus: "deleted"}},
	}
	d, err := planDigest(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Digest = d
	// Indentation, member order and escaping do not change the digest.
	pretty, _ := json.MarshalIndent(p, "", "    ")
	var generic map[string]any
	_ = json.Unmarshal(pretty, &generic)
	compact, _ := json.Marshal(generic)
	for _, raw := range [][]byte{pretty, compact} {
		lp, err := parsePlan(raw)
		if err != nil || lp.digestErr != nil {
			t.Fatalf("%s: %v %v", raw, err, lp.digestErr)
		}
	}
	// Any change, including a field this version does not know, does.
	for _, edit := range []func(m map[string]any){
		func(m map[string]any) { m["author"] = "bob" },
		func(m map[string]any) { m["items"].([]any)[0].(map[string]any)["namespace"] = nsOf(2) },
		func(m map[string]any) { m["expires_at"] = "2027-01-01T00:00:00Z" },
		func(m map[string]any) { m["note"] = "x" },
	} {
		var m map[string]any
		_ = json.Unmarshal(pretty, &m)
		edit(m)
		raw, _ := json.Marshal(m)
		lp, err := parsePlan(raw)
		if err == nil && lp.digestErr == nil {
			t.Errorf("an edited plan passed: %s", raw)
		}
	}
	// Strict decoding: what encoding/json would let through is refused.
	compactText := string(compact)
	for name, raw := range map[string]string{
		"unknown key":      strings.Replace(compactText, `"version":1`, `"version":1,"note":"x"`, 1),
		"duplicate key":    strings.Replace(compactText, `"version":1`, `"version":1,"author":"bob"`, 1),
		"case variant":     strings.Replace(compactText, `"author":"alice"`, `"Author":"alice"`, 1),
		"nested duplicate": strings.Replace(compactText, `"uid":"u"`, `"uid":"u","uid":"v"`, 1),
		"two documents":    compactText + compactText,
	} {
		if raw == compactText {
			t.Fatalf("%s: the edit did not apply", name)
		}
		if _, err := parsePlan([]byte(raw)); err == nil || !strings.Contains(err.Error(), "not a plan") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPlanProblems(t *testing.T) {
	now := time.Now()
	good := loadedPlan{Plan: api.Plan{Version: 1, PlanID: "p1", CreatedAt: now, ExpiresAt: now.Add(time.Hour), Author: "alice", Cluster: api.PlanCluster{UID: "c1"},
		Items: []api.PlanItem{{Namespace: nsOf(1)}, {Namespace: nsOf(2)}}}}
	if p := planProblems(good, now, "c1"); len(p) > 0 {
		t.Fatalf("a good plan: %v", p)
	}
	cases := map[string]func() ([]string, string){
		"expired":       func() ([]string, string) { return planProblems(good, now.Add(2*time.Hour), "c1"), "expired" },
		"other cluster": func() ([]string, string) { return planProblems(good, now, "c2"), "another cluster" },
		"from the future": func() ([]string, string) {
			p := good
			p.CreatedAt, p.ExpiresAt = now.Add(6*time.Minute), now.Add(2*time.Hour)
			return planProblems(p, now, "c1"), "more than 5m0s from now"
		},
		"too long": func() ([]string, string) {
			p := good
			p.ExpiresAt = now.Add(169 * time.Hour)
			return planProblems(p, now, "c1"), "longer than 168h"
		},
		"unregistered": func() ([]string, string) {
			p := good
			p.PlanID = ""
			return planProblems(p, now, "c1"), "never registered"
		},
		"anonymous author": func() ([]string, string) {
			p := good
			p.Author = anonymous
			return planProblems(p, now, "c1"), "held to account"
		},
		"unsorted": func() ([]string, string) {
			p := good
			p.Items = []api.PlanItem{{Namespace: nsOf(2)}, {Namespace: nsOf(1)}}
			return planProblems(p, now, "c1"), "not sorted"
		},
		"twice": func() ([]string, string) {
			p := good
			p.Items = []api.PlanItem{{Namespace: nsOf(1)}, {Namespace: nsOf(1)}}
			return planProblems(p, now, "c1"), "twice"
		},
	}
	for name, c := range cases {
		got, want := c()
		if !strings.Contains(strings.Join(got, "; "), want) {
			t.Errorf("%s: %v, want %q", name, got, want)
		}
	}
	if p := approvalProblem("alice", "alice", false); !strings.Contains(p, "someone else must approve") {
		t.Errorf("own plan: %q", p)
	}
	if p := approvalProblem("alice", "alice", true); p != "" {
		t.Errorf("self-approval allowed: %q", p)
	}
	if p := approvalProblem("alice", "bob", false); p != "" {
		t.Errorf("bob approves alice's plan: %q", p)
	}
}

// writePlan runs `plan` with args and stores the plan in a file.
func (b *reclaimBed) writePlan(args ...string) (string, api.Plan) {
	b.t.Helper()
	out, errOut, err := run(b.t, append(b.planArgs(), args...)...)
	if err != nil {
		b.t.Fatalf("plan: %v\n%s", err, errOut)
	}
	var p api.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		b.t.Fatalf("plan output: %v\n%s", err, out)
	}
	if strings.Contains(errOut, tok(1)) {
		b.t.Fatalf("a token in the summary:\n%s", errOut)
	}
	if !strings.Contains(errOut, "holds pods 2/3, PVCs 1, storage 10Gi, last change 3d") {
		b.t.Fatalf("the summary does not say what the items hold:\n%s", errOut)
	}
	f := filepath.Join(b.t.TempDir(), "plan.json")
	if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
		b.t.Fatal(err)
	}
	return f, p
}

// rewrite edits a plan file and, when redigest, gives it a matching digest.
func rewrite(t *testing.T, file string, edit func(p *api.Plan), redigest bool) {
	t.Helper()
	raw, _ := os.ReadFile(file)
	var p api.Plan
	_ = json.Unmarshal(raw, &p)
	edit(&p)
	if redigest {
		p.Digest, _ = planDigest(p)
	}
	raw, _ = json.Marshal(p)
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPlanHoldsExactlyTheReclaimableTargets(t *testing.T) {
	notYet := redis(3)
	notYet.Reclaimable, notYet.NotReclaimableReason = false, api.NotReclaimableUnconfirmed
	b := newReclaimBed(t, redis(2), redis(1), notYet)
	file, p := b.writePlan("--all", "--reason", "OPS-7")
	got := []string{}
	for _, it := range p.Items {
		got = append(got, it.Namespace)
	}
	if !slices.Equal(got, []string{nsOf(1), nsOf(2)}) {
		t.Fatalf("items %v", got)
	}
	if p.Author != testActor || p.Cluster.UID != b.cluster.systemUID || p.Cluster.Context != testContext || p.OperatorReason != "OPS-7" {
		t.Fatalf("plan %+v", p)
	}
	if d, _ := planDigest(p); d != p.Digest {
		t.Fatalf("digest %s, want %s", p.Digest, d)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}

	// A named target that is not reclaimable writes nothing.
	out, _, err := run(t, "plan", "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig, nsOf(1), nsOf(3))
	if err == nil || out != "" {
		t.Fatalf("planned a target that is not reclaimable: %v\n%s", err, out)
	}
	// Nor does a plan over --max.
	out, _, err = run(t, "plan", "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig, "--all", "--max", "1")
	if err == nil || out != "" {
		t.Fatalf("a plan over --max: %v\n%s", err, out)
	}
	// Nor can anonymous write one.
	b.cluster.setUser(anonymous)
	out, _, err = run(t, "plan", "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig, "--all")
	if err == nil || out != "" {
		t.Fatalf("anonymous wrote a plan: %v\n%s", err, out)
	}
}

func TestReclaimPlanFourEyes(t *testing.T) {
	b := newReclaimBed(t, redis(1), redis(2))
	file, p := b.writePlan("--all", "--reason", "OPS-7")

	_, errOut, err := b.reclaim("--plan", file)
	if err == nil || !strings.Contains(errOut+err.Error(), "someone else must approve") || len(b.dp.Requests()) > 0 {
		t.Fatalf("the author ran their own plan: %v\n%s", err, errOut)
	}

	b.become("bob@example.com")
	rep, errOut, err := b.reclaim("--plan", file)
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, "reclaimed", "reclaimed")
	for _, r := range b.dp.Requests() {
		ev := r.Body.Evidence
		if ev.PlanDigest != p.Digest || ev.PlanAuthor != testActor || ev.SelfApproved || r.Body.Actor != "bob@example.com" || r.Body.Reason != "OPS-1" || // --reason overrides the plan's
			ev.PlanID == "" || ev.PlanID != p.PlanID || ev.PlanExpiresAt == nil || !ev.PlanExpiresAt.Equal(p.ExpiresAt) {
			t.Fatalf("request %+v", r.Body)
		}
	}

	// Events: one per outcome, about the Namespace, no full token.
	evs := b.cluster.recorded()
	if len(evs) != 2 {
		t.Fatalf("%d events\n%s", len(evs), errOut)
	}
	for i, ev := range evs {
		io := ev.InvolvedObject
		if ev.Reason != EventReclaimRequested || ev.Type != corev1.EventTypeNormal || ev.Namespace != "default" ||
			io.Kind != "Namespace" || io.APIVersion != "v1" || io.Namespace != "" || io.Name != nsOf(i+1) || io.UID == "" {
			t.Fatalf("event %+v", ev)
		}
		if strings.Contains(ev.Message, tok(i+1)) || !strings.Contains(ev.Message, "bob@example.com") || !strings.Contains(ev.Message, "audit_id ") ||
			!strings.Contains(ev.Message, "held pods 2/3, PVCs 1, storage 10Gi, last change 3d ago") {
			t.Fatalf("event message %q", ev.Message)
		}
	}
}

func TestReclaimPlanSelfApprovalIsRecorded(t *testing.T) {
	b := newReclaimBed(t, redis(1))
	file, _ := b.writePlan(nsOf(1), "--reason", "OPS-7")
	rep, errOut, err := b.reclaim("--plan", file, "--allow-self-approval")
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, "reclaimed")
	if reqs := b.dp.Requests(); len(reqs) != 1 || !reqs[0].Body.Evidence.SelfApproved || !rep.SelfApproved {
		t.Fatalf("self approval not recorded: %+v", reqs)
	}
	if !strings.Contains(errOut, "SELF-APPROVED") {
		t.Fatalf("self approval not shown:\n%s", errOut)
	}
}

// A platform that enforces four eyes itself refuses a self-approved run
// with 403, which stops the run like any refusal of our authority.
func TestReclaimPlanSelfApprovalRefusedByPlatform(t *testing.T) {
	b := newReclaimBed(t, redis(1), redis(2))
	b.dp.RefuseSelfApproval()
	file, _ := b.writePlan("--all", "--reason", "OPS-8")
	rep, errOut, err := b.reclaim("--plan", file, "--allow-self-approval")
	if err == nil {
		t.Fatalf("a refused self approval exited 0\n%s", errOut)
	}
	wantResults(t, rep, errOut, "failed", "not-attempted")
	if !strings.Contains(rep.Outcomes[0].Detail, "four eyes") || !strings.Contains(err.Error(), "forbade") || len(b.dp.Requests()) != 1 {
		t.Fatalf("%d requests, the platform's reason not shown:\n%s", len(b.dp.Requests()), errOut)
	}
}

func TestReclaimPlanRefusals(t *testing.T) {
	cases := map[string]struct {
		breakIt func(b *reclaimBed, file string)
		want    string
	}{
		"tampered item": {func(b *reclaimBed, file string) {
			rewrite(t, file, func(p *api.Plan) { p.Items[0].EvidenceDigest = digestOf("other") }, false)
		}, "nothing was sent"},
		"expired": {func(b *reclaimBed, file string) {
			rewrite(t, file, func(p *api.Plan) { p.ExpiresAt = time.Now().Add(-time.Minute) }, true)
		}, "expired"},
		"other cluster": {func(b *reclaimBed, file string) { b.cluster.systemUID = "99999999-2222-4333-8444-555555555555" }, "watches another cluster"},
		"anonymous":     {func(b *reclaimBed, file string) { b.cluster.setUser(anonymous) }, "held to account"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := newReclaimBed(t, redis(1), redis(2))
			file, _ := b.writePlan("--all", "--reason", "OPS-7")
			b.become("bob@example.com")
			c.breakIt(b, file)
			_, errOut, err := b.reclaim("--plan", file)
			if err == nil || len(b.dp.Requests()) > 0 || len(b.cluster.recorded()) > 0 {
				t.Fatalf("ran: %v, %d requests\n%s", err, len(b.dp.Requests()), errOut)
			}
			if !strings.Contains(err.Error(), "refusing to reclaim") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	b := newReclaimBed(t, redis(1))
	file, _ := b.writePlan("--all")
	if _, _, err := b.reclaim("--plan", file, "--all"); err == nil {
		t.Fatal("--plan with --all ran")
	}
}

func TestReclaimPlanSkipsChangedItems(t *testing.T) {
	b := newReclaimBed(t, redis(1), redis(2), redis(3))
	file, _ := b.writePlan("--all", "--reason", "OPS-7")
	changed := redis(2)
	changed.EvidenceDigest = digestOf("a new row")
	b.exp.claim(nsOf(2), changed)
	// Something reclaimable now but not in the plan is never touched.
	b.exp.list(redis(1), changed, redis(3), redis(4))
	b.become("bob@example.com")
	b.cluster.eventsDenied = true

	showOut, _, err := run(t, "plan", "show", file, "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"valid", "matches the current context", "registered with the platform as ", ItemUnchanged, ItemChanged, "PODS", "LAST-CHANGE", " 2/3 "} {
		if !strings.Contains(showOut, want) {
			t.Fatalf("plan show lacks %q:\n%s", want, showOut)
		}
	}
	if strings.Contains(showOut, tok(1)) {
		t.Fatalf("plan show printed a token:\n%s", showOut)
	}

	rep, errOut, err := b.reclaim("--plan", file)
	if err != nil {
		t.Fatal(err, errOut)
	}
	wantResults(t, rep, errOut, "reclaimed", "skipped/changed", "reclaimed")
	if len(b.sentFor(nsOf(2))) > 0 || len(b.sentFor(nsOf(4))) > 0 {
		t.Fatal("sent a changed or unplanned namespace")
	}
	// Events could not be written: a warning, the same outcome.
	if !strings.Contains(errOut, "could not record Event") {
		t.Fatalf("no warning:\n%s", errOut)
	}
}

func TestPlanShowFlagsABrokenPlan(t *testing.T) {
	b := newReclaimBed(t, redis(1))
	file, _ := b.writePlan("--all")
	rewrite(t, file, func(p *api.Plan) { p.Author = "mallory" }, false)
	out, _, err := run(t, "plan", "show", file, "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig)
	if err == nil || !strings.Contains(out, "INVALID") {
		t.Fatalf("a tampered plan showed as fine: %v\n%s", err, out)
	}
	// A plan never registered with the platform, digest and all.
	file, _ = b.writePlan("--all")
	rewrite(t, file, func(p *api.Plan) { p.PlanID = "" }, true)
	out, _, err = run(t, "plan", "show", file, "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig)
	if err == nil || !strings.Contains(err.Error(), "never registered") || !strings.Contains(out, "NOT REGISTERED") {
		t.Fatalf("an unregistered plan showed as fine: %v\n%s", err, out)
	}
}

// planArgs are the arguments of a plan by the bed's current user.
func (b *reclaimBed) planArgs() []string {
	return []string{"plan", "--exporter-url", b.exp.URL, "--kubeconfig", b.cluster.kubeconfig,
		"--deprovision-url", b.dp.URL, "--deprovision-token-file", b.tokenFile}
}

// become makes user the caller: the API server's and, with a secret of
// their own, the platform's.
func (b *reclaimBed) become(user string) {
	b.t.Helper()
	secret := "personal-secret-of-" + strings.NewReplacer("@", "-", ".", "-").Replace(user)
	b.dp.AddIdentity(secret, user)
	b.tokenFile = filepath.Join(b.t.TempDir(), "token")
	if err := os.WriteFile(b.tokenFile, []byte(secret), 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.cluster.setUser(user)
}

// A plan is registered with the platform, which must say it enforces
// plans; the file records the platform's id and author.
func TestPlanIsRegisteredWithThePlatform(t *testing.T) {
	b := newReclaimBed(t, redis(1))
	b.dp.SetCapabilities(deprovisiontest.Response{Body: api.Capabilities{DryRun: true}})
	out, _, err := run(t, append(b.planArgs(), "--all")...)
	if err == nil || out != "" || !strings.Contains(err.Error(), "cannot enforce four eyes") {
		t.Fatalf("planned against a platform without plans: %v\n%s", err, out)
	}
	b.dp.SetCapabilities(deprovisiontest.Response{Body: api.Capabilities{DryRun: true, Plans: true}})
	_, p := b.writePlan("--all")
	if p.PlanID == "" || p.Author != testActor {
		t.Fatalf("plan id %q, author %q", p.PlanID, p.Author)
	}
	for _, ttl := range []string{"169h", "0s"} {
		if _, _, err := run(t, append(b.planArgs(), "--all", "--ttl", ttl)...); err == nil || !strings.Contains(err.Error(), "--ttl") {
			t.Errorf("--ttl %s: %v", ttl, err)
		}
	}
	// The platform knows the secret as someone else than the API server
	// knows the caller: nothing is written.
	b.dp.AddIdentity("secret-of-somebody-else-0123", "carol@example.com")
	if err := os.WriteFile(b.tokenFile, []byte("secret-of-somebody-else-0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, append(b.planArgs(), "--all")...)
	if err == nil || out != "" {
		t.Fatalf("planned under another identity: %v\n%s", err, out)
	}
}

// The platform refuses what the plugin's checks would catch too: the
// author approving, an item added to the file, a forged expiry.
func TestPlatformEnforcesThePlan(t *testing.T) {
	b := newReclaimBed(t, redis(1), redis(2), redis(3))
	file, _ := b.writePlan(nsOf(1), nsOf(2))
	b.dp.RefuseSelfApproval()
	rep, errOut, err := b.reclaim("--plan", file, "--allow-self-approval")
	if err == nil || len(rep.Outcomes) == 0 || !strings.Contains(rep.Outcomes[0].Detail, "four eyes") {
		t.Fatalf("alice approved her own plan: %v\n%s", err, errOut)
	}
	b.become("bob@example.com")
	// bob adds an item and re-digests: the plugin cannot tell, the
	// platform, which registered the plan, can.
	rewrite(t, file, func(p *api.Plan) {
		p.Items = append(p.Items, api.PlanItem{Namespace: nsOf(3), NamespaceUID: redis(3).NamespaceUID, Token: tok(3), ResourceType: "redis",
			EvidenceDigest: redis(3).EvidenceDigest, Reason: api.ReasonTerminal, LastStatus: "deleted"})
	}, true)
	rep, errOut, err = b.reclaim("--plan", file)
	if err != nil {
		t.Fatal(err, errOut)
	}
	conflict := OutcomeSkipped + "/" + WhyConflict
	wantResults(t, rep, errOut, conflict, conflict, conflict)
	if !strings.Contains(rep.Outcomes[2].Detail, "not the registered plan's") {
		t.Fatalf("added item: %q", rep.Outcomes[2].Detail)
	}
}
