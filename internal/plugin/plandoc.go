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

// planDigest returns the hex SHA-256 of the RFC 8785 JSON of p without its
// digest and its plan_id (the platform's name for what was digested).
func planDigest(p api.Plan) (string, error) {
	p.Digest, p.PlanID = "", ""
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
	delete(doc, "plan_id")
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
	if err := strictKeys(raw); err != nil {
		return lp, fmt.Errorf("not a plan: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&lp.Plan); err != nil {
		return lp, fmt.Errorf("not a plan: %w", err)
	}
	if d.More() {
		return lp, errors.New("not a plan: more than one JSON value")
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
	if lp.CreatedAt.After(now.Add(maxClockSkew)) {
		out = append(out, fmt.Sprintf("the plan was created at %s, more than %s from now", lp.CreatedAt.UTC().Format(time.RFC3339), maxClockSkew))
	}
	if lp.ExpiresAt.Sub(lp.CreatedAt) > maxPlanTTL {
		out = append(out, fmt.Sprintf("the plan is valid for %s, longer than %s", lp.ExpiresAt.Sub(lp.CreatedAt), maxPlanTTL))
	}
	if lp.PlanID == "" {
		out = append(out, "the plan was never registered with the platform (no plan_id)")
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

// maxPlanTTL is the longest a plan may be run after it was written, and
// maxClockSkew how far ahead of this clock its created_at may be.
const (
	maxPlanTTL   = 168 * time.Hour
	maxClockSkew = 5 * time.Minute
)

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

// strictKeys refuses what encoding/json lets through: a key given twice
// (the last would win, unseen by a reviewer) and a key in another case
// (json matches "Author" to "author"). Every key of a plan is lower case.
func strictKeys(raw []byte) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return strictValue(d, "$")
}

func strictValue(d *json.Decoder, at string) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			switch {
			case k != strings.ToLower(k):
				return fmt.Errorf("key %q at %s is not lower case", k, at)
			case seen[k]:
				return fmt.Errorf("key %q at %s is given twice", k, at)
			}
			seen[k] = true
			if err := strictValue(d, at+"."+k); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	case json.Delim('['):
		for i := 0; d.More(); i++ {
			if err := strictValue(d, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	}
	return nil
}
