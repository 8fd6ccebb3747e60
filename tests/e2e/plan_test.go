//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/plugin"
	"github.com/orphansweep/orphans/internal/testenv"
)

// approver is the second pair of eyes, with a kubeconfig of their own.
const approver = "bob@example.com"

// grantPlanRBAC binds the shipped operator roles to the operator group and
// the approver, as docs/deploy.md tells an operator to (plan and reclaim
// read the kube-system namespace's UID to name the cluster): the orphans-operator
// ClusterRole (deploy/base) for the kube-system namespace that names the
// cluster, and the orphans-operator-events Role (deploy/operator-events) for
// the Events. The operator may also impersonate the approver, which the
// plugin must refuse all the same: the audit record names who acts.
func grantPlanRBAC(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	rbac := bed.admin.RbacV1()
	id := strings.ToLower(uuid.NewString()[:8])
	subjects := []rbacv1.Subject{
		{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "orphans-operators"},
		{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: approver},
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cr, err := testenv.ShippedClusterRole("deploy/base/operator-clusterrole.yaml")
	must(err)
	events, err := testenv.ShippedRole("deploy/operator-events/role.yaml")
	must(err)
	// Names of this run, so parallel and repeated runs do not meet.
	cr.Name += "-" + id
	events.Name += "-" + id
	_, err = rbac.ClusterRoles().Create(ctx, cr, metav1.CreateOptions{})
	must(err)
	_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr.Name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}, Subjects: subjects}, metav1.CreateOptions{})
	must(err)
	_, err = rbac.Roles(events.Namespace).Create(ctx, events, metav1.CreateOptions{})
	must(err)
	_, err = rbac.RoleBindings(events.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: events.Name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: events.Name}, Subjects: subjects}, metav1.CreateOptions{})
	must(err)
	imp := "orphans-impersonate-" + id
	_, err = rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: imp}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{approver}, Verbs: []string{"impersonate"}},
	}}, metav1.CreateOptions{})
	must(err)
	_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: imp},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: imp},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: operator}}}, metav1.CreateOptions{})
	must(err)
	t.Cleanup(func() {
		ctx := context.Background()
		_ = rbac.RoleBindings(events.Namespace).Delete(ctx, events.Name, metav1.DeleteOptions{})
		_ = rbac.Roles(events.Namespace).Delete(ctx, events.Name, metav1.DeleteOptions{})
		for _, n := range []string{cr.Name, imp} {
			_ = rbac.ClusterRoleBindings().Delete(ctx, n, metav1.DeleteOptions{})
			_ = rbac.ClusterRoles().Delete(ctx, n, metav1.DeleteOptions{})
		}
	})
}

func TestPlanApproveAndReclaim(t *testing.T) {
	b := newReclaimBed(t, true)
	approverSecret := "approver-deprovision-secret-" + uuid.NewString()
	b.dp.AddIdentity(approverSecret, approver)
	approverTokenFile := filepath.Join(t.TempDir(), "approver-token")
	if err := os.WriteFile(approverTokenFile, []byte(approverSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a1, tok1 := b.redisOrphan()
	a2, tok2 := b.redisOrphan()
	a3, tok3 := b.redisOrphan()
	noType, _ := b.tenant() // a candidate, never reclaimable
	b.waitListed(true, a1, a2, a3)
	url := "--exporter-url=" + b.e.URL

	// The operator writes a plan of exactly the reclaimable targets.
	r := orphans(t, operator, nil, append([]string{"plan", url, "--all", "--reason=" + reason, "--max=50",
		"--deprovision-url=" + b.dp.URL, "--deprovision-token-file=" + b.tokenFile}, lowFloors...)...)
	if r.code != 0 {
		t.Fatal(r)
	}
	var p api.Plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err, r)
	}
	var got []string
	for _, it := range p.Items {
		got = append(got, it.Namespace)
	}
	want := []string{a1, a2, a3}
	slices.Sort(want)
	// Other tests' candidates share the exporter's view only by label, so
	// the plan holds ours and nothing unreclaimable.
	if !slices.Equal(got, want) || slices.Contains(got, noType) || p.Author != operator {
		t.Fatalf("plan items %v author %s, want %v", got, p.Author, want)
	}
	mustNotContain(t, "plan summary", []string{r.stderr}, tok1, tok2, tok3)
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(user []string, planFile string) result {
		args := append([]string{"--plan=" + planFile, "--deprovision-url=" + b.dp.URL, "--deprovision-token-file=" + b.tokenFile, "--yes", "-o", "json"}, user...)
		return b.reclaim("", nil, args...)
	}
	as := []string{"--kubeconfig=" + bed.kubeconfig[approver], "--deprovision-token-file=" + approverTokenFile}

	// Refused, sending nothing: the author, a tampered item, an expired
	// plan, a plan of another cluster.
	variant := func(edit func(p *api.Plan), redigest bool) string {
		q := p
		q.Items = slices.Clone(p.Items)
		edit(&q)
		if redigest {
			q.Digest = ""
			raw, _ := json.Marshal(q)
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			delete(m, "digest")
			q.Digest = digestOfPlan(t, m)
		}
		raw, _ := json.Marshal(q)
		f := filepath.Join(t.TempDir(), "plan.json")
		if err := os.WriteFile(f, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	refusals := map[string]struct {
		user []string
		file string
		want string
	}{
		"author":        {nil, file, "someone else must approve"},
		"impersonating": {[]string{"--as=" + approver}, file, "refusing to reclaim with --as"},
		"tampered item": {as, variant(func(q *api.Plan) { q.Items[0].EvidenceDigest = strings.Repeat("0", 64) }, false), "digest does not match"},
		"expired":       {as, variant(func(q *api.Plan) { q.ExpiresAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second) }, true), "expired"},
		"other cluster": {as, variant(func(q *api.Plan) { q.Cluster.UID = uuid.NewString() }, true), "another cluster"},
	}
	for name, c := range refusals {
		r := run(c.user, c.file)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || len(b.dp.Requests()) > 0 {
			t.Fatalf("%s: not refused: %d requests\n%s", name, len(b.dp.Requests()), r)
		}
	}

	// Review, then a2's ledger rows change before the run.
	r = orphans(t, operator, nil, "plan", "show", file, url)
	if r.code != 0 || strings.Count(r.stdout, plugin.ItemUnchanged) != 3 {
		t.Fatal(r)
	}
	b.rows(testenv.Row{Token: tok2, Status: "expired", ResourceType: "redis"})
	b.e.waitCandidates(t, "a2's evidence changed", func(code int, doc api.Candidates) bool {
		c, ok := byNamespace(doc)[a2]
		return ok && c.EvidenceDigest != p.Items[slices.Index(got, a2)].EvidenceDigest
	})

	r = run(as, file)
	if r.code != 0 {
		t.Fatal(r)
	}
	rep := decodeReport(t, r)
	results := map[string]string{}
	for _, o := range rep.Outcomes {
		results[o.Namespace] = o.Result + "/" + o.Why
	}
	if results[a1] != "reclaimed/" || results[a3] != "reclaimed/" || results[a2] != "skipped/changed" || len(results) != 3 {
		t.Fatalf("outcomes %v\n%s", results, r)
	}
	if len(b.requestsFor(a2)) > 0 || len(b.requestsFor(noType)) > 0 {
		t.Fatal("sent a changed or unplanned namespace")
	}
	for _, ns := range []string{a1, a3} {
		reqs := b.requestsFor(ns)
		if len(reqs) != 1 || reqs[0].Body.Actor != approver || reqs[0].Body.Evidence.PlanDigest != p.Digest || reqs[0].Body.Evidence.PlanAuthor != operator ||
			reqs[0].Body.Evidence.PlanID == "" || reqs[0].Body.Evidence.PlanID != p.PlanID {
			t.Fatalf("%s: requests %+v", ns, reqs)
		}
	}

	// Events in default about each Namespace, tokens masked.
	evs, err := bed.admin.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	var msgs []string
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Kind == "Namespace" && slices.Contains(want, ev.InvolvedObject.Name) {
			reasons[ev.InvolvedObject.Name] = ev.Reason + "/" + ev.Type
			msgs = append(msgs, ev.Message)
			if ev.InvolvedObject.UID == "" || ev.InvolvedObject.Namespace != "" {
				t.Errorf("event %+v", ev.InvolvedObject)
			}
		}
	}
	if reasons[a1] != plugin.EventReclaimRequested+"/"+corev1.EventTypeNormal || reasons[a2] != plugin.EventReclaimSkipped+"/"+corev1.EventTypeNormal ||
		reasons[a3] != plugin.EventReclaimRequested+"/"+corev1.EventTypeNormal {
		t.Fatalf("events %v\n%s", reasons, r)
	}
	mustNotContain(t, "event messages", msgs, tok1, tok2, tok3)
}

// digestOfPlan recomputes a plan digest the way a plan's writer does.
func digestOfPlan(t *testing.T, m map[string]any) string {
	t.Helper()
	d, err := plugin.PlanDigestOf(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
