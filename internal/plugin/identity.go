package plugin

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/exporterclient"
	"github.com/orphansweep/orphans/internal/kube"
)

// anonymous is the username of unauthenticated requests: nobody can be
// held to account for it, so it can neither plan nor reclaim.
const anonymous = "system:anonymous"

// checkNotImpersonating refuses, before anything is contacted, a caller who
// would act as somebody else: the audit record must name the person who
// acts, and four eyes must be two people, not one person twice.
func (o *RootOptions) checkNotImpersonating(verb string) error {
	cf := o.ConfigFlags
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{"--as", cf.Impersonate != nil && *cf.Impersonate != ""},
		{"--as-group", cf.ImpersonateGroup != nil && len(*cf.ImpersonateGroup) > 0},
		{"--as-uid", cf.ImpersonateUID != nil && *cf.ImpersonateUID != ""},
		{"--as-user-extra", cf.ImpersonateUserExtra != nil && len(*cf.ImpersonateUserExtra) > 0},
	} {
		if f.set {
			return fmt.Errorf("refusing to %s with %s: the audit record must name who acts, not whom they impersonate", verb, f.flag)
		}
	}
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("refusing to %s: kubeconfig: %w", verb, err)
	}
	if imp := cfg.Impersonate; imp.UserName != "" || imp.UID != "" || len(imp.Groups) > 0 || len(imp.Extra) > 0 {
		return fmt.Errorf("refusing to %s: the kubeconfig's user impersonates somebody (as, as-groups, as-uid or as-user-extra); the audit record must name who acts", verb)
	}
	return nil
}

// preflight is what plan and reclaim establish before they look at any
// target: the exporter's latest sweep with both safety flags on, who the
// caller is, and that the exporter watches the current context's cluster.
type preflight struct {
	doc *api.Candidates
	// actor is the caller's username, as the API server knows them.
	actor string
	// clusterUID is the UID of the current context's kube-system namespace,
	// which is also the exporter's.
	clusterUID string
}

// runPreflight refuses, in the words of verb, a run that must not look at
// any target.
func runPreflight(ctx context.Context, verb string, exp *exporterclient.Client, cs kubernetes.Interface) (preflight, error) {
	var p preflight
	doc, err := destructiveCandidates(ctx, exp, verb)
	if err != nil {
		return p, err
	}
	who, err := kube.WhoAmI(ctx, cs)
	switch {
	case err != nil:
		return p, fmt.Errorf("refusing to %s: cannot tell who you are for the audit record: %w", verb, err)
	case who.Username == anonymous:
		return p, fmt.Errorf("refusing to %s: you are %s, nobody who can be held to account", verb, anonymous)
	}
	uid, err := clusterUID(ctx, cs)
	if err != nil {
		return p, fmt.Errorf("refusing to %s: %w", verb, err)
	}
	switch {
	case doc.ClusterUID == "":
		return p, fmt.Errorf("refusing to %s: the exporter does not say which cluster it watches (no cluster_uid in /candidates)", verb)
	case doc.ClusterUID != uid:
		return p, fmt.Errorf("refusing to %s: the exporter watches another cluster (kube-system UID %s) than the current context (kube-system UID %s)", verb, doc.ClusterUID, uid)
	}
	return preflight{doc: doc, actor: who.Username, clusterUID: uid}, nil
}

// destructiveCandidates reads the exporter's latest sweep and refuses, in
// the words of verb, unless it reports both safety flags on.
func destructiveCandidates(ctx context.Context, exp *exporterclient.Client, verb string) (*api.Candidates, error) {
	doc, err := exp.Candidates(ctx)
	if err != nil {
		return nil, fmt.Errorf("refusing to %s: %w", verb, err)
	}
	switch {
	case !doc.Enabled:
		return nil, fmt.Errorf(`refusing to %s: the exporter reports the sweep disabled (ORPHAN_DB_SWEEP_ENABLED is not "true")`, verb)
	case !doc.DestructiveEnabled:
		return nil, fmt.Errorf(`refusing to %s: the exporter reports destructive reclaim disabled (ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED is not "true")`, verb)
	}
	return doc, nil
}

// clusterUID returns the UID of the kube-system namespace, which names the
// cluster better than a server URL that load balancers and aliases change.
func clusterUID(ctx context.Context, cs kubernetes.Interface) (string, error) {
	ns, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read the cluster's identity (namespace kube-system): %w", err)
	}
	if ns.UID == "" {
		return "", errors.New("read the cluster's identity: namespace kube-system has no UID")
	}
	return string(ns.UID), nil
}
