package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision"
	"github.com/orphansweep/orphans/internal/exporterclient"
	"github.com/orphansweep/orphans/internal/logsafe"
)

// Environment variables of reclaim. The secret is read only from a file or
// the environment: a flag value would land in shell history and ps output.
const (
	EnvDeprovisionURL   = "ORPHANS_DEPROVISION_URL"
	EnvDeprovisionToken = "ORPHANS_DEPROVISION_TOKEN"
)

// Dry-run modes, as kubectl names them.
const (
	DryRunNone   = "none"
	DryRunClient = "client"
	DryRunServer = "server"
)

// Outcomes of one target.
const (
	// OutcomeReclaimed: the platform answered 200, deprovisioned.
	OutcomeReclaimed = "reclaimed"
	// OutcomeDryRunOK: a dry run passed: the platform confirmed it would
	// deprovision (server), or every check passed and nothing was sent
	// (client).
	OutcomeDryRunOK = "dry-run-ok"
	// OutcomeSkipped: nothing was sent, or the platform refused; Why says which.
	OutcomeSkipped = "skipped"
	// OutcomeFailed: the platform did not deprovision, or a check failed.
	OutcomeFailed = "failed"
	// OutcomeUncertain: nobody can tell whether the platform acted. It
	// stops the run; the platform's audit log has the answer.
	OutcomeUncertain = "uncertain"
	// OutcomeNotAttempted: the run stopped before this target.
	OutcomeNotAttempted = "not-attempted"
)

const reclaimExample = `  # Rehearse: fresh-check two namespaces and show the requests, sending nothing
  kubectl orphans reclaim instant-customer-3f2b8c1e-… instant-customer-9a0d… \
      --reason "OPS-1234 leaked by failed teardowns" --dry-run=client

  # Reclaim everything the exporter marks reclaimable (asks you to type the context's name)
  export ORPHANS_DEPROVISION_URL=https://platform.internal
  kubectl orphans reclaim --all --reason "OPS-1234 leaked by failed teardowns" \
      --deprovision-token-file ~/.config/orphans/deprovision-token`

// ReclaimOptions are the options of `kubectl orphans reclaim`.
type ReclaimOptions struct {
	*RootOptions

	All    bool
	Yes    bool
	Max    int
	Reason string
	DryRun string
	Output string
	RuleFlags
	DeprovisionFlags
	PlanFile          string
	AllowSelfApproval bool

	namespaces []string
	// plan is the plan of a --plan run.
	plan *loadedPlan
	// selfApproved: the caller runs their own plan with --allow-self-approval.
	selfApproved bool
	secret       deprovision.Secret
	isTerminal   func() bool

	// Built once by Complete.
	verdictReader
	deprovision *deprovision.Client
	// endpoint is where requests go (or, with --dry-run=client, would go).
	endpoint string
	// contextName is the kube context the operator types to confirm.
	contextName string
}

// Outcome is what happened to one target.
type Outcome struct {
	Namespace string `json:"namespace"`
	Result    string `json:"result"`
	// Why is set for skipped: live, changed, not_reclaimable,
	// unverified_claim or conflict.
	Why string `json:"why,omitempty"`
	// Detail says more (why skipped, what went wrong, the audit id);
	// tokens in it are masked.
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	AuditID   string `json:"audit_id,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	// Request is the body sent (or, with --dry-run=client, that would be).
	Request *api.DeprovisionRequest `json:"request,omitempty"`
	// Held is what the namespace held at its fresh check: what a reclaim
	// destroys.
	Held *api.Contents `json:"held,omitempty"`

	// uid and token name the namespace in its Event, when known.
	uid, token string
}

// ReclaimReport is the -o json|yaml output of reclaim.
type ReclaimReport struct {
	Context  string `json:"context"`
	Actor    string `json:"actor"`
	Endpoint string `json:"endpoint,omitempty"`
	Reason   string `json:"reason"`
	DryRun   string `json:"dry_run"`
	// PlanDigest and PlanAuthor are set for a --plan run.
	PlanDigest   string    `json:"plan_digest,omitempty"`
	PlanAuthor   string    `json:"plan_author,omitempty"`
	SelfApproved bool      `json:"self_approved,omitempty"`
	Outcomes     []Outcome `json:"outcomes"`
}

type target struct {
	namespace string
	// listed is the candidate as the latest sweep listed it, if it did.
	listed *api.Candidate
	// planned is the item of a --plan run.
	planned *api.PlanItem
}

// names returns the namespace UID and token the target is known by before
// its fresh check, for its Event.
func (t target) names() (uid, token string) {
	switch {
	case t.planned != nil:
		return t.planned.NamespaceUID, t.planned.Token
	case t.listed != nil:
		return t.listed.NamespaceUID, t.listed.Token
	}
	return "", ""
}

// shownDigest is the evidence digest the operator was shown for the
// target, "" when it was not listed.
func (t target) shownDigest() string {
	if t.planned != nil {
		return t.planned.EvidenceDigest
	}
	if t.listed == nil {
		return ""
	}
	return t.listed.EvidenceDigest
}

// NewCmdReclaim returns `kubectl orphans reclaim`.
func NewCmdReclaim(root *RootOptions) *cobra.Command {
	o := &ReclaimOptions{
		RootOptions: root, Max: 10, DryRun: DryRunNone, DeprovisionFlags: defaultDeprovisionFlags(),
		RuleFlags: defaultRuleFlags(),
	}
	cmd := &cobra.Command{
		Use:   "reclaim (NAMESPACE... | --all) --reason TEXT | --plan FILE [flags]",
		Short: "Reclaim orphaned namespaces through the platform's audited deprovision API",
		Long: `Reclaim orphaned namespaces through the platform's audited deprovision API.

Nothing is deleted by this command or by the exporter. For each target, in order,
it asks the exporter for a fresh verdict (the API server and the ledger read now)
and checks that verdict itself: reclaimable, reason terminal, a resource type in
--types, the namespace --namespace-prefix plus the token, a namespace UID and an
evidence digest, and that digest the one shown when you confirmed. Only then does
it post one request to the deprovision API, attributed to your Kubernetes
username and carrying --reason and the evidence. Anything else is skipped.

It refuses to start unless the exporter reports both ORPHAN_DB_SWEEP_ENABLED and
ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED on and a deprovision endpoint is configured
(--deprovision-url or $` + EnvDeprovisionURL + `; the secret from --deprovision-token-file
or $` + EnvDeprovisionToken + `). The exporter must be reached over https with a
verified certificate (or on a loopback address), and so must the deprovision API.
It shows the targets and asks you to type the current kube context's name; without
a terminal it needs --yes. --max caps one run. --dry-run=server asks the same way,
and first makes sure the platform supports dry runs.

With --plan FILE it runs a plan written by "kubectl orphans plan": it refuses,
sending nothing, a plan whose digest does not match, that has expired, that is
for another cluster (the kube-system namespace's UID), or that you wrote
(--allow-self-approval overrides, and says so in every request). It reclaims only
the plan's items whose fresh evidence digest is still the plan's (others are
skipped as changed), and every other check applies too. --reason defaults to the
plan's.

After each outcome (except with --dry-run=client) it records an Event about the
Namespace in namespace default: OrphanReclaimRequested, OrphanReclaimSkipped or
OrphanReclaimFailed, with your username, the masked token and the audit id. A
failed Event write is a warning; it changes no outcome.

Outcomes: reclaimed, dry-run-ok, skipped (live, changed, not_reclaimable,
unverified_claim, conflict), failed, uncertain. A 5xx or a request without an
answer is retried once with the same Idempotency-Key. An uncertain outcome, a 401
or 403, or two targets failing in a row stop the run; later targets are
not-attempted. The command exits non-zero if any target failed, was uncertain or
was not attempted.`,
		Example:           reclaimExample,
		RunE:              completeValidateRun(o.Complete, o.Validate, o.Run),
		ValidArgsFunction: completeCandidates(root),
	}
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", o.All, "Reclaim every candidate the latest sweep marks reclaimable.")
	f.BoolVarP(&o.Yes, "yes", "y", o.Yes, "Do not ask; needed when stdin is not a terminal.")
	f.IntVar(&o.Max, "max", o.Max, "Refuse a run with more targets than this.")
	f.StringVar(&o.Reason, "reason", o.Reason, "Why (ticket, incident): written to the platform's audit record. Required.")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, `"client": check afresh and print the requests, send nothing; "server": send them with dry_run=true; "none": reclaim.`)
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format of the outcomes: json or yaml (default: a table).")
	o.RuleFlags.AddFlags(f, "Resource types this command reclaims; a verdict of any other type is skipped.")
	o.DeprovisionFlags.AddFlags(f)
	f.StringVar(&o.PlanFile, "plan", o.PlanFile, `Run this plan (from "kubectl orphans plan"), someone else's.`)
	f.BoolVar(&o.AllowSelfApproval, "allow-self-approval", o.AllowSelfApproval, "Run a plan you wrote yourself; recorded in every request as self_approved.")
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{DryRunNone, DryRunClient, DryRunServer}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete reads the environment and the secret file and builds the
// clients: the exporter's, the API server's and, unless nothing is to be
// sent, the deprovision API's. It contacts nothing.
func (o *ReclaimOptions) Complete(_ *cobra.Command, args []string) error {
	if err := o.checkNotImpersonating("reclaim"); err != nil {
		return err
	}
	o.namespaces = nil
	o.Reason = strings.TrimSpace(o.Reason)
	for _, a := range args {
		if !slices.Contains(o.namespaces, a) {
			o.namespaces = append(o.namespaces, a)
		}
	}
	o.plan = nil
	if o.PlanFile != "" {
		raw, err := os.ReadFile(o.PlanFile)
		if err != nil {
			return fmt.Errorf("refusing to reclaim: read plan: %w", err)
		}
		lp, err := parsePlan(raw)
		if err != nil {
			return fmt.Errorf("refusing to reclaim: %s: %w; nothing was sent", o.PlanFile, err)
		}
		o.plan = &lp
		if o.Reason == "" {
			o.Reason = strings.TrimSpace(lp.OperatorReason)
		}
	}
	secret, err := o.DeprovisionFlags.resolve()
	if err != nil {
		return err
	}
	o.secret = secret
	if o.isTerminal == nil {
		o.isTerminal = func() bool {
			f, ok := o.In.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		}
	}
	if err := o.verdictReader.complete(o.RootOptions, o.RuleFlags); err != nil {
		return err
	}
	if o.kube, err = o.clientset(); err != nil {
		return fmt.Errorf("refusing to reclaim: kubeconfig: %w", err)
	}
	if o.contextName, _, err = o.kubeContext(); err != nil {
		return fmt.Errorf("refusing to reclaim: %w", err)
	}
	if o.DeprovisionURL != "" {
		u, err := deprovision.ParseURL(o.DeprovisionURL)
		if err != nil {
			return fmt.Errorf("--deprovision-url: %w", err)
		}
		o.endpoint = strings.TrimSuffix(u.String(), "/") + api.DeprovisionPath
		if o.DryRun != DryRunClient && o.secret != "" {
			if o.deprovision, err = o.DeprovisionFlags.client(o.secret); err != nil {
				return fmt.Errorf("refusing to reclaim: %w", err)
			}
		}
	}
	return nil
}

// Validate refuses, before anything is contacted, every run that must not start.
func (o *ReclaimOptions) Validate() error {
	if !slices.Contains([]string{DryRunNone, DryRunClient, DryRunServer}, o.DryRun) {
		return fmt.Errorf(`--dry-run %q: want "none", "client" or "server"`, o.DryRun)
	}
	if o.Output != "" && o.Output != "json" && o.Output != "yaml" {
		return fmt.Errorf("unsupported output format %q: want json or yaml", o.Output)
	}
	switch {
	case o.PlanFile != "" && (o.All || len(o.namespaces) > 0):
		return errors.New("give --plan, or namespaces or --all, not both")
	case o.PlanFile != "":
	case o.All && len(o.namespaces) > 0:
		return errors.New("give namespaces or --all, not both")
	case !o.All && len(o.namespaces) == 0:
		return errors.New("give the namespaces to reclaim, or --all, or --plan")
	}
	if o.plan != nil && len(o.plan.Items) > o.Max {
		return fmt.Errorf("refusing to reclaim %d namespaces in one run: --max is %d", len(o.plan.Items), o.Max)
	}
	if err := checkTargets(o.namespaces, o.Max, o.rules); err != nil {
		return err
	}
	if strings.TrimSpace(o.Reason) == "" {
		return errors.New("--reason is required: it goes to the platform's audit record (a ticket or incident reference)")
	}
	if len(o.namespaces) > o.Max {
		return fmt.Errorf("refusing to reclaim %d namespaces in one run: --max is %d", len(o.namespaces), o.Max)
	}
	if o.DeprovisionTimeout <= 0 {
		return fmt.Errorf("--deprovision-timeout must be positive, got %s", o.DeprovisionTimeout)
	}
	if o.DryRun != DryRunClient && o.DeprovisionURL == "" {
		return fmt.Errorf("refusing to reclaim: no deprovision endpoint is configured (--deprovision-url or $%s)", EnvDeprovisionURL)
	}
	if o.DryRun != DryRunClient && o.secret == "" {
		return fmt.Errorf("refusing to reclaim: no deprovision secret (--deprovision-token-file or $%s)", EnvDeprovisionToken)
	}
	if o.DryRun != DryRunClient && !o.Yes {
		if !o.isTerminal() {
			return errors.New("refusing to reclaim without confirmation: stdin is not a terminal; pass --yes to confirm non-interactively")
		}
		if o.contextName == "" {
			return errors.New("refusing to reclaim: the kubeconfig names no current context for you to type as confirmation; pass --context, or --yes")
		}
	}
	return nil
}

// Run reclaims the targets one by one: preflight, the targets, the
// refusals of the whole run, the confirmation, each target, the report.
func (o *ReclaimOptions) Run(ctx context.Context) error {
	pf, err := runPreflight(ctx, "reclaim", o.exporter, o.kube)
	if err != nil {
		return err
	}
	m := newMasker(pf.doc.Policy.Prefix, o.NamespacePrefix)
	targets := o.targets(pf.doc)
	if len(targets) == 0 {
		fmt.Fprintf(o.ErrOut, "Nothing to reclaim: none of the %d candidates of the latest sweep is reclaimable.\n", len(pf.doc.Candidates))
		return nil
	}
	if err := o.refuseRun(ctx, pf, len(targets)); err != nil {
		return err
	}
	o.showPlan(targets, m, pf.actor, pf.doc.Policy.Weakened)
	if o.DryRun != DryRunClient && !o.Yes {
		if err := o.confirm(ctx, len(targets)); err != nil {
			return err
		}
	}
	report, stopped := o.reclaimAll(ctx, targets, pf.actor, m)
	if err := o.printReport(report, m); err != nil {
		return err
	}
	if err := summarize(report, o.ErrOut); err != nil {
		if stopped != "" {
			return fmt.Errorf("run stopped (%s): %w", stopped, err)
		}
		return err
	}
	return nil
}

// refuseRun returns why a run of n targets by pf.actor must not start:
// too many, a plan that does not hold, a server dry run the platform does
// not support. It records a self approval.
func (o *ReclaimOptions) refuseRun(ctx context.Context, pf preflight, n int) error {
	if n > o.Max {
		return fmt.Errorf("refusing to reclaim %d namespaces in one run: --max is %d; nothing was sent", n, o.Max)
	}
	if o.plan != nil {
		probs := planProblems(*o.plan, o.now(), pf.clusterUID)
		if p := approvalProblem(o.plan.Author, pf.actor, o.AllowSelfApproval); p != "" {
			probs = append(probs, p)
		}
		if len(probs) > 0 {
			return fmt.Errorf("refusing to reclaim: plan %s: %s; nothing was sent", o.PlanFile, strings.Join(probs, "; "))
		}
		o.selfApproved = pf.actor == o.plan.Author
	}
	if o.DryRun != DryRunServer {
		return nil
	}
	caps, err := o.deprovision.Capabilities(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("refusing a server dry run: cannot tell whether the platform supports dry runs: GET %s: %w; nothing was sent", api.CapabilitiesPath, err)
	case !caps.DryRun:
		return fmt.Errorf(`refusing a server dry run: the platform does not say it supports dry runs (GET %s has no "dry_run": true); nothing was sent`, api.CapabilitiesPath)
	}
	return nil
}

// reclaimAll reclaims the targets in order, recording an Event after each
// outcome, and returns the report and why the run stopped ("" when it ran
// to the end).
func (o *ReclaimOptions) reclaimAll(ctx context.Context, targets []target, actor string, m *masker) (ReclaimReport, string) {
	report := ReclaimReport{Context: o.contextName, Actor: actor, Endpoint: o.endpoint, Reason: o.Reason, DryRun: o.DryRun}
	if o.plan != nil {
		report.PlanDigest, report.PlanAuthor, report.SelfApproved = o.plan.Digest, o.plan.Author, o.selfApproved
	}
	events := o.eventRecorder(actor, m)
	stopped := ""
	failedInARow := 0
	for _, tg := range targets {
		if stopped == "" && ctx.Err() != nil {
			stopped = "interrupted"
		}
		if stopped != "" {
			report.Outcomes = append(report.Outcomes, Outcome{Namespace: tg.namespace, Result: OutcomeNotAttempted, Detail: "run stopped: " + stopped})
			continue
		}
		out, stop := o.reclaimOne(ctx, tg, actor, m)
		report.Outcomes = append(report.Outcomes, out)
		events.record(ctx, out)
		// Skipped targets neither count nor reset: only what was tried does.
		switch out.Result {
		case OutcomeFailed:
			failedInARow++
			if failedInARow >= 2 && stop == "" {
				stop = "two targets in a row failed"
			}
		case OutcomeReclaimed, OutcomeDryRunOK:
			failedInARow = 0
		}
		if stop != "" {
			stopped = stop
		}
	}
	return report, stopped
}

// targets resolves the command line against the latest sweep.
func (o *ReclaimOptions) targets(doc *api.Candidates) []target {
	var out []target
	if o.plan != nil {
		for i := range o.plan.Items {
			tg := target{namespace: o.plan.Items[i].Namespace, planned: &o.plan.Items[i]}
			for j := range doc.Candidates {
				if doc.Candidates[j].Namespace == tg.namespace {
					tg.listed = &doc.Candidates[j]
				}
			}
			out = append(out, tg)
		}
		return out
	}
	if o.All {
		for i := range doc.Candidates {
			if doc.Candidates[i].Reclaimable {
				out = append(out, target{namespace: doc.Candidates[i].Namespace, listed: &doc.Candidates[i]})
			}
		}
		return out
	}
	for _, ns := range o.namespaces {
		tg := target{namespace: ns}
		for i := range doc.Candidates {
			if doc.Candidates[i].Namespace == ns {
				tg.listed = &doc.Candidates[i]
			}
		}
		out = append(out, tg)
	}
	return out
}

func (o *ReclaimOptions) showPlan(targets []target, m *masker, actor string, weakened []string) {
	w := o.ErrOut
	fmt.Fprintf(w, "Targets (%d), in order; each is checked afresh right before its request:\n", len(targets))
	p := printers.NewTablePrinter(printers.PrintOptions{})
	_ = p.PrintObj(targetsTable(targets, m, o.now(), o.rules), w)
	endpoint := o.endpoint
	if endpoint == "" {
		endpoint = "<not configured>"
	}
	fmt.Fprintf(w, "Kube context:    %s\nDeprovision API: %s\nActor:           %s\nReason:          %s\nDry run:         %s\nOwn checks:      namespace %s<token>, types %s\n",
		orNone(o.contextName), endpoint, actor, o.Reason, o.DryRun, o.NamespacePrefix, strings.Join(o.rules.types, ","))
	fmt.Fprintf(w, "Own floors:      %s\n", o.rules.floorsText())
	showWeakened(w, weakened)
	if o.plan != nil {
		approval := "approved by " + actor
		if o.selfApproved {
			approval = "SELF-APPROVED by its author (--allow-self-approval), recorded as self_approved"
		}
		fmt.Fprintf(w, "Plan:            %s by %s, expires %s; %s\n", o.plan.Digest, o.plan.Author, o.plan.ExpiresAt.UTC().Format(time.RFC3339), approval)
	}
}

// confirm asks the operator to type the current kube context's name: a
// count can be typed without reading, a cluster's name makes you look at
// which cluster this is.
func (o *ReclaimOptions) confirm(ctx context.Context, n int) error {
	action := fmt.Sprintf("This asks the platform to deprovision %d namespace(s)", n)
	if o.DryRun == DryRunServer {
		action = fmt.Sprintf("This sends %d dry-run request(s) to the platform", n)
	}
	fmt.Fprintf(o.ErrOut, "%s for kube context %q. Type the context's name to proceed: ", action, o.contextName)
	line := make(chan string, 1)
	go func() {
		var b strings.Builder
		buf := make([]byte, 1)
		for {
			k, err := o.In.Read(buf)
			if k == 1 {
				if buf[0] == '\n' {
					break
				}
				b.WriteByte(buf[0])
			}
			if err != nil {
				break
			}
		}
		line <- strings.TrimSpace(b.String())
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(o.ErrOut)
		return fmt.Errorf("aborted: %w; nothing was sent", ctx.Err())
	case got := <-line:
		if got == "" || got != o.contextName {
			return fmt.Errorf("aborted: you typed %q, not the context's name %q; nothing was sent", got, o.contextName)
		}
		return nil
	}
}

// reclaimOne does fresh check -> own checks -> request -> outcome for one
// target. A non-empty stop ends the run after it.
func (o *ReclaimOptions) reclaimOne(ctx context.Context, tg target, actor string, m *masker) (Outcome, string) {
	out := Outcome{Namespace: tg.namespace}
	out.uid, out.token = tg.names()
	v, err := o.exporter.Check(ctx, tg.namespace)
	if err != nil {
		out.Result, out.Detail = OutcomeFailed, "fresh check: "+m.Text(err.Error())
		return out, stopIfCancelled(ctx)
	}
	if c := v.Candidate; c != nil {
		out.Held = c.Contents
		if c.NamespaceUID != "" && c.Token != "" {
			out.uid, out.token = c.NamespaceUID, c.Token
		}
	}
	if s := o.verify(tg, v); s != nil {
		out.Result, out.Why, out.Detail = OutcomeSkipped, s.why, s.detail
		return out, ""
	}
	req := o.request(tg.namespace, v.Candidate, actor)
	out.RequestID, out.Request = req.RequestID, &req
	if err := deprovision.Validate(req); err != nil {
		out.Result, out.Detail = OutcomeFailed, m.Text(err.Error())
		return out, ""
	}
	if o.DryRun == DryRunClient {
		out.Result, out.Detail = OutcomeDryRunOK, "client dry run: every check passed, nothing sent"
		return out, ""
	}
	res, err := o.deprovision.Deprovision(ctx, req)
	out.Attempts, out.AuditID = res.Attempts, res.AuditID
	return answered(ctx, out, res, err, m)
}

// verify is the plugin's decision on the fresh verdict v of tg: nil to
// send it, else why not.
func (o *ReclaimOptions) verify(tg target, v exporterclient.Verdict) *skip {
	// A plan's item whose evidence moved on is "changed", whatever else
	// the fresh verdict says: the plan approved other evidence.
	if tg.planned != nil && v.Candidate != nil && v.Candidate.EvidenceDigest != tg.planned.EvidenceDigest {
		return &skip{WhyChanged, "the evidence differs from the plan's"}
	}
	if s := o.rules.check(tg.namespace, v); s != nil {
		return s
	}
	return sameEvidence(tg.shownDigest(), v.Candidate.EvidenceDigest)
}

// request is the deprovision request for the verified candidate c of ns.
func (o *ReclaimOptions) request(ns string, c *api.Candidate, actor string) api.DeprovisionRequest {
	dryRun := o.DryRun == DryRunServer
	req := api.DeprovisionRequest{
		RequestID:          deprovision.RequestID(c.NamespaceUID, c.EvidenceDigest, dryRun),
		Token:              c.Token,
		ResourceType:       c.ResourceType,
		ProviderResourceID: ns,
		Actor:              actor,
		Reason:             o.Reason,
		DryRun:             dryRun,
		Evidence: api.Evidence{
			Namespace:          ns,
			Reason:             c.Reason,
			LastStatus:         c.LastStatus,
			NamespaceCreatedAt: c.NamespaceCreatedAt,
			FirstSeenAt:        c.FirstSeenAt,
			ConsecutiveSweeps:  c.ConsecutiveSweeps,
			ConfirmedAt:        o.now().UTC(),
			NamespaceUID:       c.NamespaceUID,
			EvidenceDigest:     c.EvidenceDigest,
			Floors:             o.rules.loweredFloors(),
		},
	}
	if o.plan != nil {
		exp := o.plan.ExpiresAt
		req.Evidence.PlanDigest, req.Evidence.PlanAuthor, req.Evidence.SelfApproved = o.plan.Digest, o.plan.Author, o.selfApproved
		req.Evidence.PlanID, req.Evidence.PlanExpiresAt = o.plan.PlanID, &exp
	}
	return req
}

// answered turns the platform's answer into the outcome; a non-empty stop
// ends the run after it.
func answered(ctx context.Context, out Outcome, res deprovision.Result, err error, m *masker) (Outcome, string) {
	switch {
	case err == nil && res.DryRun:
		out.Result, out.Detail = OutcomeDryRunOK, "audit id "+res.AuditID
	case err == nil:
		out.Result, out.Detail = OutcomeReclaimed, "audit id "+res.AuditID
	case errors.Is(err, deprovision.ErrUncertain):
		out.Result, out.Detail = OutcomeUncertain, m.Text(err.Error())
		if ctx.Err() != nil {
			return out, "interrupted"
		}
		return out, "an outcome is uncertain: look up " + m.Namespace(out.Namespace) + " in the platform's audit log before running again"
	case errors.Is(err, deprovision.ErrDryRunIgnored):
		out.Result, out.Detail = OutcomeFailed, m.Text(err.Error())
		return out, "the platform did not confirm a dry run"
	case errors.Is(err, deprovision.ErrRefused):
		out.Result, out.Why, out.Detail = OutcomeSkipped, WhyConflict, "platform refused: "+m.Text(err.Error())
	case errors.Is(err, deprovision.ErrUnauthorized):
		out.Result, out.Detail = OutcomeFailed, m.Text(err.Error())
		if res.StatusCode == http.StatusForbidden {
			return out, "the deprovision API forbade the request (403)"
		}
		return out, fmt.Sprintf("the deprovision API refused our credentials (%d)", res.StatusCode)
	default:
		out.Result, out.Detail = OutcomeFailed, m.Text(err.Error())
		return out, stopIfCancelled(ctx)
	}
	return out, ""
}

func stopIfCancelled(ctx context.Context) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	return ""
}

func (o *ReclaimOptions) printReport(r ReclaimReport, m *masker) error {
	if o.Output == "json" || o.Output == "yaml" {
		return printStructured(o.Out, o.Output, r)
	}
	p := printers.NewTablePrinter(printers.PrintOptions{})
	if err := p.PrintObj(outcomesTable(r.Outcomes, m), o.Out); err != nil {
		return err
	}
	if o.DryRun != DryRunClient {
		return nil
	}
	// What would have been sent, tokens masked; -o json shows it in full.
	for _, out := range r.Outcomes {
		if out.Request == nil {
			continue
		}
		shown := *out.Request
		shown.Token = logsafe.Mask(shown.Token)
		shown.ProviderResourceID = m.Namespace(shown.ProviderResourceID)
		shown.Evidence.Namespace = m.Namespace(shown.Evidence.Namespace)
		b, err := json.MarshalIndent(shown, "", "  ")
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		fmt.Fprintf(o.Out, "\nPOST %s\n%s: %s\n%s: Bearer [redacted]\n%s\n",
			orNone(r.Endpoint), api.HeaderIdempotencyKey, out.RequestID, api.HeaderAuthorization, b)
	}
	return nil
}

// summarize prints the counts and turns failed, uncertain and not-attempted
// targets into the exit status.
func summarize(r ReclaimReport, w io.Writer) error {
	counts := map[string]int{}
	for _, o := range r.Outcomes {
		counts[o.Result]++
	}
	var parts []string
	for _, k := range []string{OutcomeReclaimed, OutcomeDryRunOK, OutcomeSkipped, OutcomeFailed, OutcomeUncertain, OutcomeNotAttempted} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	fmt.Fprintf(w, "%s.\n", strings.Join(parts, ", "))
	if bad := counts[OutcomeFailed] + counts[OutcomeUncertain] + counts[OutcomeNotAttempted]; bad > 0 {
		return fmt.Errorf("%d of %d targets failed, were uncertain or were not attempted", bad, len(r.Outcomes))
	}
	return nil
}
