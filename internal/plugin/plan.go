package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision"
	"github.com/orphansweep/orphans/internal/exporterclient"
	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/logsafe"
)

const planExample = `  # Write a plan of everything reclaimable now, for a colleague to review and run
  kubectl orphans plan --all --reason "OPS-1234 leaked by failed teardowns" > plan.json

  # Review it against the exporter's fresh verdicts
  kubectl orphans plan show plan.json

  # Run it (someone other than its author)
  kubectl orphans reclaim --plan plan.json`

// PlanOptions are the options of `kubectl orphans plan`.
type PlanOptions struct {
	*RootOptions

	All    bool
	Max    int
	TTL    time.Duration
	Reason string
	RuleFlags
	DeprovisionFlags

	verdictReader
	namespaces  []string
	deprovision *deprovision.Client
}

// NewCmdPlan returns `kubectl orphans plan` and its `show` subcommand.
func NewCmdPlan(root *RootOptions) *cobra.Command {
	o := &PlanOptions{RootOptions: root, Max: 10, TTL: 24 * time.Hour, RuleFlags: defaultRuleFlags(), DeprovisionFlags: defaultDeprovisionFlags()}
	cmd := &cobra.Command{
		Use:   "plan (NAMESPACE... | --all) [--max N] [--ttl 24h] [--reason TEXT]",
		Short: "Write a plan of namespaces to reclaim, for someone else to approve",
		Long: `Write a plan of namespaces to reclaim, for someone else to review and run.

For each target it asks the exporter for a fresh verdict and checks it as reclaim
does (reclaimable, reason terminal, a type in --types, the namespace --namespace-prefix
plus the token, a namespace UID and an evidence digest). The plan, JSON on stdout,
names each namespace with the evidence digest seen now, your Kubernetes username
as author, the cluster (the kube-system namespace's UID), and an expiry (--ttl).
Its digest is the SHA-256 of its RFC 8785 canonical JSON: it detects changes, it
is not a signature. What makes the plan binding is the platform: plan registers
it (POST /v1/plans) under your personal deprovision secret and records the
platform's plan_id and author in it; the platform then refuses a run by you, of
anything not in the plan, or after its expiry. It refuses to plan with a platform
that does not say "plans": true at GET /v1/capabilities. --ttl is at most 168h.

It writes nothing and fails when a named target is not reclaimable or there are
more targets than --max. With --all, candidates that fail a check are left out
and listed on stderr. Review a plan with "kubectl orphans plan show FILE"; run it
with "kubectl orphans reclaim --plan FILE", as someone other than its author.`,
		Example:           planExample,
		Args:              cobra.ArbitraryArgs,
		RunE:              completeValidateRun(func(_ *cobra.Command, args []string) error { return o.Complete(args) }, o.Validate, o.Run),
		ValidArgsFunction: completeCandidates(root),
	}
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", o.All, "Plan every candidate the latest sweep marks reclaimable.")
	f.IntVar(&o.Max, "max", o.Max, "Refuse a plan of more targets than this.")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "How long the plan may be run.")
	f.StringVar(&o.Reason, "reason", o.Reason, "Why (ticket, incident): the plan's operator_reason, sent to the platform's audit record.")
	o.RuleFlags.AddFlags(f, "Resource types to plan; a verdict of any other type fails the check.")
	o.DeprovisionFlags.AddFlags(f)
	cmd.AddCommand(newCmdPlanShow(root))
	return cmd
}

// Complete builds the clients; it contacts nothing.
func (o *PlanOptions) Complete(args []string) error {
	if err := o.checkNotImpersonating("plan"); err != nil {
		return err
	}
	o.namespaces = nil
	for _, a := range args {
		if !slices.Contains(o.namespaces, a) {
			o.namespaces = append(o.namespaces, a)
		}
	}
	o.Reason = strings.TrimSpace(o.Reason)
	err := o.verdictReader.complete(o.RootOptions, o.RuleFlags)
	if err != nil {
		return err
	}
	if o.kube, err = o.clientset(); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	secret, err := o.DeprovisionFlags.resolve()
	switch {
	case err != nil:
		return err
	case o.DeprovisionURL == "":
		return fmt.Errorf("refusing to plan: no deprovision endpoint is configured (--deprovision-url or $%s): a plan is registered with the platform, which enforces it", EnvDeprovisionURL)
	case secret == "":
		return fmt.Errorf("refusing to plan: no deprovision secret (--deprovision-token-file or $%s): a plan is registered under your own", EnvDeprovisionToken)
	}
	if o.deprovision, err = o.DeprovisionFlags.client(secret); err != nil {
		return fmt.Errorf("refusing to plan: %w", err)
	}
	return nil
}

// Validate refuses bad command lines before anything is contacted.
func (o *PlanOptions) Validate() error {
	switch {
	case o.All && len(o.namespaces) > 0:
		return errors.New("give namespaces or --all, not both")
	case !o.All && len(o.namespaces) == 0:
		return errors.New("give the namespaces to plan, or --all")
	}
	if err := checkTargets(o.namespaces, o.Max, o.rules); err != nil {
		return err
	}
	if len(o.namespaces) > o.Max {
		return fmt.Errorf("refusing a plan of %d namespaces: --max is %d", len(o.namespaces), o.Max)
	}
	if o.TTL <= 0 || o.TTL > maxPlanTTL {
		return fmt.Errorf("--ttl must be positive and at most %s, got %s", maxPlanTTL, o.TTL)
	}
	return nil
}

// Run checks every target afresh and writes the plan.
func (o *PlanOptions) Run(ctx context.Context) error {
	pf, err := runPreflight(ctx, "plan", o.exporter, o.kube)
	if err != nil {
		return err
	}
	doc := pf.doc
	m := newMasker(doc.Policy.Prefix, o.NamespacePrefix)
	caps, err := o.deprovision.Capabilities(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("refusing to plan: ask the platform what it supports: %w", err)
	case !caps.Plans:
		return errors.New(`refusing to plan: the platform does not register plans (GET /v1/capabilities has no "plans": true), so it cannot enforce four eyes; nothing was written`)
	}
	cluster := api.PlanCluster{UID: pf.clusterUID}
	if cluster.Context, cluster.Server, err = o.kubeContext(); err != nil {
		return fmt.Errorf("refusing to plan: %w", err)
	}

	names := o.namespaces
	if o.All {
		names = nil
		for _, c := range doc.Candidates {
			if c.Reclaimable {
				names = append(names, c.Namespace)
			}
		}
	}
	if len(names) > o.Max {
		return fmt.Errorf("refusing a plan of %d namespaces: --max is %d; nothing was written", len(names), o.Max)
	}
	var items []api.PlanItem
	var left []string
	holds := map[string]string{} // what each item holds, for the summary
	for _, ns := range names {
		v, err := o.exporter.Check(ctx, ns)
		if err != nil {
			return fmt.Errorf("fresh check of %s: %s; nothing was written", m.Namespace(ns), m.Text(err.Error()))
		}
		if s := o.rules.check(ns, v); s != nil {
			if o.All {
				left = append(left, fmt.Sprintf("  %s: %s: %s", m.Namespace(ns), s.why, s.detail))
				continue
			}
			return fmt.Errorf("refusing to plan: %s is %s: %s; nothing was written", m.Namespace(ns), s.why, s.detail)
		}
		c := v.Candidate
		holds[ns] = contentsSummary(c.Contents, o.now())
		items = append(items, api.PlanItem{
			Namespace: ns, NamespaceUID: c.NamespaceUID, Token: c.Token, ResourceType: c.ResourceType,
			EvidenceDigest: c.EvidenceDigest, Reason: c.Reason, LastStatus: c.LastStatus,
		})
	}
	if len(items) == 0 {
		for _, l := range left {
			fmt.Fprintln(o.ErrOut, l)
		}
		return errors.New("nothing to plan: no candidate is reclaimable and passes the plugin's checks now; nothing was written")
	}
	slices.SortFunc(items, func(a, b api.PlanItem) int { return strings.Compare(a.Namespace, b.Namespace) })

	now := o.now().UTC().Truncate(time.Second)
	p := api.Plan{
		Version: api.PlanVersion, CreatedAt: now, ExpiresAt: now.Add(o.TTL), Author: pf.actor,
		Cluster: cluster, OperatorReason: o.Reason, Items: items,
	}
	if p.Digest, err = planDigest(p); err != nil {
		return err
	}
	reg, err := o.deprovision.RegisterPlan(ctx, p)
	switch {
	case err != nil:
		return fmt.Errorf("refusing to plan: register the plan with the platform: %s; nothing was written", m.Text(err.Error()))
	case reg.Author != pf.actor:
		return fmt.Errorf("refusing to plan: the platform registered the plan as %s's, but the API server knows you as %s; nothing was written", reg.Author, pf.actor)
	}
	p.PlanID = reg.PlanID
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if _, err := fmt.Fprintf(o.Out, "%s\n", b); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}

	w := o.ErrOut
	fmt.Fprintf(w, "Plan %s (platform id %s): %d namespace(s), by %s, for context %q (kube-system UID %s), expires %s.\n",
		p.Digest, p.PlanID, len(items), p.Author, cluster.Context, cluster.UID, p.ExpiresAt.Format(time.RFC3339))
	for _, it := range items {
		fmt.Fprintf(w, "  %s  token %s  %s  %s/%s  evidence %s  holds %s\n", m.Namespace(it.Namespace), logsafe.Mask(it.Token),
			it.ResourceType, it.Reason, orNone(it.LastStatus), shortDigest(it.EvidenceDigest), holds[it.Namespace])
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "Left out (%d):\n%s\n", len(left), strings.Join(left, "\n"))
	}
	fmt.Fprintf(w, "Own floors: %s\n", o.rules.floorsText())
	showWeakened(w, doc.Policy.Weakened)
	fmt.Fprintln(w, `Review with "kubectl orphans plan show FILE"; someone else runs it with "kubectl orphans reclaim --plan FILE".`)
	return nil
}

func shortDigest(d string) string {
	if len(d) > digestShown {
		return d[:digestShown]
	}
	return orNone(d)
}

// Item states of `plan show`.
const (
	ItemUnchanged       = "unchanged"
	ItemChanged         = "changed"
	ItemNotCandidate    = "not a candidate now"
	ItemNotReclaimable  = "not reclaimable now"
	ItemCheckFailed     = "check failed"
	itemStateFailsCheck = "fails the plugin's checks"
)

// PlanShowOptions are the options of `kubectl orphans plan show`.
type PlanShowOptions struct {
	*RootOptions
	RuleFlags

	verdictReader
	file string
}

func newCmdPlanShow(root *RootOptions) *cobra.Command {
	o := &PlanShowOptions{RootOptions: root, RuleFlags: defaultRuleFlags()}
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Review a plan against the exporter's fresh verdicts",
		Long: `Review a plan against the exporter's fresh verdicts.

Shows whether the plan's digest is valid, whether it has expired, whether it is
for the current context's cluster, who wrote it, and, per item, whether the fresh
evidence digest still matches the plan's: unchanged, changed, not a candidate
now, or not reclaimable now. Exits non-zero when "kubectl orphans reclaim --plan"
would refuse the plan as a whole.`,
		Args: cobra.ExactArgs(1),
		RunE: completeValidateRun(o.Complete, func() error { return nil }, o.Run),
	}
	o.RuleFlags.AddFlags(cmd.Flags(), "Resource types the plugin reclaims.")
	return cmd
}

// Complete builds the clients; it contacts nothing.
func (o *PlanShowOptions) Complete(_ *cobra.Command, args []string) error {
	o.file = args[0]
	err := o.verdictReader.complete(o.RootOptions, o.RuleFlags)
	if err != nil {
		return err
	}
	if o.kube, err = o.clientset(); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}

// Run shows the plan and its items' fresh state.
func (o *PlanShowOptions) Run(ctx context.Context) error {
	raw, err := os.ReadFile(o.file)
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	lp, err := parsePlan(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", o.file, err)
	}
	exp, cs := o.exporter, o.kube
	cur, err := o.currentCluster(ctx, cs)
	if err != nil {
		return err
	}
	who, err := kube.WhoAmI(ctx, cs)
	if err != nil {
		return fmt.Errorf("cannot tell who you are: %w", err)
	}
	m := newMasker(o.NamespacePrefix)
	now := o.now()

	w := o.Out
	digest := "valid"
	if lp.digestErr != nil {
		digest = "INVALID: " + lp.digestErr.Error()
	}
	expiry := fmt.Sprintf("%s (in %s)", lp.ExpiresAt.UTC().Format(time.RFC3339), lp.ExpiresAt.Sub(now).Round(time.Second))
	if !now.Before(lp.ExpiresAt) {
		expiry = fmt.Sprintf("EXPIRED at %s", lp.ExpiresAt.UTC().Format(time.RFC3339))
	}
	cluster := "matches the current context"
	if lp.Cluster.UID != cur.UID {
		cluster = fmt.Sprintf("DIFFERS: plan is for kube-system UID %q, the current context %q has %q", lp.Cluster.UID, cur.Context, cur.UID)
	}
	author := lp.Author
	if lp.Author == who.Username {
		author += " (you: someone else must approve it)"
	}
	registered := "registered with the platform as " + lp.PlanID
	if lp.PlanID == "" {
		registered = "NOT REGISTERED with the platform (no plan_id): reclaim --plan refuses it"
	}
	fmt.Fprintf(w, "Plan:      %s\nDigest:    %s\nPlatform:  %s\nCreated:   %s\nExpires:   %s\nAuthor:    %s\nCluster:   context %q, server %s, kube-system UID %s: %s\nReason:    %s\n\n",
		orNone(lp.Digest), digest, registered, lp.CreatedAt.UTC().Format(time.RFC3339), expiry, author,
		lp.Cluster.Context, lp.Cluster.Server, lp.Cluster.UID, cluster, orNone(lp.OperatorReason))

	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "NAMESPACE", Type: "string"}, {Name: "TOKEN", Type: "string"}, {Name: "TYPE", Type: "string"},
		{Name: "PLANNED", Type: "string"}, {Name: "NOW", Type: "string"},
		{Name: "PODS", Type: "string"}, {Name: "PVCS", Type: "string"}, {Name: "STORAGE", Type: "string"}, {Name: "LAST-CHANGE", Type: "string"},
		{Name: "STATE", Type: "string"},
	}}
	for _, it := range lp.Items {
		state, fresh := o.itemState(ctx, exp, it)
		digest, contents := "", contentsCells(nil, now)
		if fresh != nil {
			digest, contents = fresh.EvidenceDigest, contentsCells(fresh.Contents, now)
		}
		cells := append([]any{m.Namespace(it.Namespace), logsafe.Mask(it.Token), orNone(it.ResourceType),
			shortDigest(it.EvidenceDigest), shortDigest(digest)}, contents...)
		t.Rows = append(t.Rows, metav1.TableRow{Cells: append(cells, m.Text(state))})
	}
	if err := printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(t, w); err != nil {
		return err
	}
	// Who runs it is not the plan's problem: the reviewer may well be its author.
	if probs := planProblems(lp, now, cur.UID); len(probs) > 0 {
		return fmt.Errorf("reclaim --plan would refuse this plan: %s", strings.Join(probs, "; "))
	}
	return nil
}

// itemState compares one item with the exporter's fresh verdict.
func (o *PlanShowOptions) itemState(ctx context.Context, exp *exporterclient.Client, it api.PlanItem) (string, *api.Candidate) {
	v, err := exp.Check(ctx, it.Namespace)
	if err != nil {
		return ItemCheckFailed + ": " + err.Error(), nil
	}
	if v.Not != nil {
		return ItemNotCandidate + " (" + v.Not.Why + ")", nil
	}
	c := v.Candidate
	switch {
	case !c.Reclaimable:
		return ItemNotReclaimable + " (" + orNone(c.NotReclaimableReason) + ")", c
	case o.rules.problem(it.Namespace, c) != "":
		return itemStateFailsCheck + ": " + o.rules.problem(it.Namespace, c), c
	case c.EvidenceDigest != it.EvidenceDigest:
		return ItemChanged, c
	}
	return ItemUnchanged, c
}
