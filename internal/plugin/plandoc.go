package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/jcs"
)

// planDigest returns the hex SHA-256 of the RFC 8785 JSON of p without its digest.
func planDigest(p api.Plan) (string, error) {
	p.Digest = ""
	b, err := jcs.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("plan digest: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// rawPlanDigest computes the digest over the document as written, so a
// field this version does not know still counts.
func rawPlanDigest(raw []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		return "", err
	}
	delete(doc, "digest")
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	c, err := jcs.Canonicalize(b)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// loadedPlan is a plan read from a file, with what its digest says.
type loadedPlan struct {
	api.Plan
	// digestErr says why the digest does not match; nil when it does.
	digestErr error
}

// parsePlan decodes a plan and checks its digest and shape. A plan that
// does not decode is an error; a digest that does not match is reported
// in digestErr so that `plan show` can still show what the file says.
func parsePlan(raw []byte) (loadedPlan, error) {
	var lp loadedPlan
	if err := json.Unmarshal(raw, &lp.Plan); err != nil {
		return lp, fmt.Errorf("not a plan: %w", err)
	}
	if lp.Version != api.PlanVersion {
		return lp, fmt.Errorf("plan version %d, this plugin reads version %d", lp.Version, api.PlanVersion)
	}
	got, err := rawPlanDigest(raw)
	switch {
	case err != nil:
		lp.digestErr = fmt.Errorf("cannot compute the digest: %w", err)
	case lp.Digest == "":
		lp.digestErr = errors.New("the plan has no digest")
	case got != lp.Digest:
		lp.digestErr = errors.New("the digest does not match the plan's contents: it was changed after it was written")
	}
	return lp, nil
}

// planProblems returns why a run of the plan, now, against the cluster
// whose kube-system namespace has UID clusterUID must not start, whoever
// runs it.
func planProblems(lp loadedPlan, now time.Time, clusterUID string) []string {
	var out []string
	if lp.digestErr != nil {
		out = append(out, lp.digestErr.Error())
	}
	if lp.ExpiresAt.IsZero() || !now.Before(lp.ExpiresAt) {
		out = append(out, fmt.Sprintf("the plan expired at %s", lp.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if lp.Cluster.UID == "" || lp.Cluster.UID != clusterUID {
		out = append(out, fmt.Sprintf("the plan is for another cluster (kube-system UID %q, this context's is %q)", lp.Cluster.UID, clusterUID))
	}
	if lp.Author == "" || lp.Author == anonymous {
		out = append(out, fmt.Sprintf("the plan's author %q is nobody who can be held to account", lp.Author))
	}
	if len(lp.Items) == 0 {
		out = append(out, "the plan has no items")
	}
	if !slices.IsSortedFunc(lp.Items, func(a, b api.PlanItem) int { return strings.Compare(a.Namespace, b.Namespace) }) {
		out = append(out, "the plan's items are not sorted by namespace")
	}
	for i := 1; i < len(lp.Items); i++ {
		if lp.Items[i].Namespace == lp.Items[i-1].Namespace {
			out = append(out, "the plan names a namespace twice")
			break
		}
	}
	return out
}

// approvalProblem returns why caller must not run a plan by author, or "".
// The caller is already known to be accountable (runPreflight).
func approvalProblem(author, caller string, allowSelf bool) string {
	if caller == author && !allowSelf {
		return fmt.Sprintf("you (%s) wrote this plan: someone else must approve it (or pass --allow-self-approval, which is recorded)", caller)
	}
	return ""
}

// kubeContext returns the name of the current kube context (the one
// --context selects, else the kubeconfig's) and its API server.
func (o *RootOptions) kubeContext() (name, server string, err error) {
	raw, err := o.ConfigFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", "", fmt.Errorf("kubeconfig: %w", err)
	}
	name = raw.CurrentContext
	if p := o.ConfigFlags.Context; p != nil && *p != "" {
		name = *p
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return "", "", fmt.Errorf("kubeconfig: %w", err)
	}
	return name, cfg.Host, nil
}

// currentCluster returns the context, server and kube-system UID of the
// current kube context.
func (o *RootOptions) currentCluster(ctx context.Context, cs kubernetes.Interface) (api.PlanCluster, error) {
	var c api.PlanCluster
	var err error
	if c.Context, c.Server, err = o.kubeContext(); err != nil {
		return c, err
	}
	if c.UID, err = clusterUID(ctx, cs); err != nil {
		return c, err
	}
	return c, nil
}

// PlanDigestOf returns the digest of a plan given as a decoded JSON
// object without its digest, for tools that write or check plans.
func PlanDigestOf(plan map[string]any) (string, error) {
	raw, err := json.Marshal(plan)
	if err != nil {
		return "", err
	}
	return rawPlanDigest(raw)
}
