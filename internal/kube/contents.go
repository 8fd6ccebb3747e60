package kube

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/orphansweep/orphans/internal/sweep"
)

// ChangeResources are read, metadata only, for the newest change inside a
// namespace, besides the Namespace itself and its Pods and PVCs: what a
// tenant or an operator creates or edits by hand. Secrets are never read.
var ChangeResources = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

// changeSubresources are the subresources whose updates are a change made
// in the namespace: kubectl scale and kubectl debug. The others (status
// above all) are what controllers and kubelets write on their own.
var changeSubresources = []string{"scale", "ephemeralcontainers"}

// ContentsOptions shape the contents reader.
type ContentsOptions struct {
	// QPS and Burst limit the reader's own client, apart from the informer's
	// and any other reader's.
	QPS   float32
	Burst int
	// Timeout bounds one namespace's read, the wait for the limiter
	// included; 0 for the client's request timeout.
	Timeout time.Duration
	// IgnoreManagers are field managers whose changes do not count.
	IgnoreManagers []string
	// Extra are resources read besides ChangeResources (an operator's CRDs).
	Extra []schema.GroupVersionResource
	// OnRequest is called for every API request the reader makes.
	OnRequest func()
	// Sightings are shared by every reader of one process, so that the
	// loop's reads and the fresh checks' agree on when an object carrying
	// an entry without a time was first seen. Nil: the reader's own.
	Sightings *Sightings
	// Now is the clock of the sightings; nil for time.Now.
	Now func() time.Time
}

// Contents reads what a namespace holds: what a reclaim would destroy.
type Contents struct {
	typed     kubernetes.Interface
	meta      metadata.Interface
	resources []schema.GroupVersionResource
	ignore    []string
	timeout   time.Duration
	sightings *Sightings
	now       func() time.Time
}

// ParseResource parses group/version/resource; the core group is empty
// ("/v1/services"), left out ("v1/services") or spelled "core"
// ("core/v1/services"). Secrets are refused in every spelling, whatever the
// group or case: contents never read a Secret, and a spelling that slipped
// through would read them for every candidate.
func ParseResource(s string) (schema.GroupVersionResource, error) {
	parts := strings.Split(s, "/")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	// Before the shape: a bare "secrets" is refused as Secrets, not as a
	// typo to be corrected into one.
	if namesSecrets(parts[len(parts)-1]) {
		return schema.GroupVersionResource{}, fmt.Errorf("%q: Secrets are never read", s)
	}
	var gvr schema.GroupVersionResource
	switch len(parts) {
	case 2:
		gvr = schema.GroupVersionResource{Version: parts[0], Resource: parts[1]}
	case 3:
		gvr = schema.GroupVersionResource{Group: parts[0], Version: parts[1], Resource: parts[2]}
		if gvr.Group == "core" {
			gvr.Group = ""
		}
	default:
		return schema.GroupVersionResource{}, fmt.Errorf("%q: want group/version/resource", s)
	}
	// The API server names every group, version and resource in lower case;
	// any other spelling would fail every read, and every candidate with it.
	if gvr.Group != "" && len(validation.IsDNS1123Subdomain(gvr.Group)) > 0 ||
		len(validation.IsDNS1035Label(gvr.Version)) > 0 || len(validation.IsDNS1035Label(gvr.Resource)) > 0 {
		return schema.GroupVersionResource{}, fmt.Errorf("%q: want group/version/resource in lower case, such as apps/v1/deployments", s)
	}
	return gvr, nil
}

// namesSecrets tells whether one spelling of a resource names Secrets: plural
// or singular, in any case, alone or as kubectl's resource.version.group.
func namesSecrets(resource string) bool {
	name, _, _ := strings.Cut(strings.ToLower(resource), ".")
	return name == "secrets" || name == "secret"
}

// NewContents builds a reader with its own client on cfg.
func NewContents(cfg *rest.Config, o ContentsOptions) (*Contents, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	if o.QPS > 0 {
		// One limiter for both clients below: each would otherwise make its
		// own, and the reader would run at twice the rate asked for.
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(o.QPS, max(1, o.Burst))
	}
	if o.OnRequest != nil {
		count := o.OnRequest
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				count()
				return rt.RoundTrip(r)
			})
		})
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("contents client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("contents client: %w", err)
	}
	c := &Contents{typed: typed, meta: meta, ignore: o.IgnoreManagers, timeout: o.Timeout,
		resources: append(slices.Clone(ChangeResources), o.Extra...), sightings: o.Sightings, now: o.Now}
	if c.timeout <= 0 {
		c.timeout = cfg.Timeout
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.sightings == nil {
		c.sightings = NewSightings()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// RequestsPerNamespace is how many API requests one namespace's read makes
// at least: its GET, and one list of each kind (more for a list longer than
// a page).
func (o ContentsOptions) RequestsPerNamespace() int {
	return 1 + 2 + len(ChangeResources) + len(o.Extra)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const pageSize = 500

// Read reads the contents of one namespace now. The error says which read
// failed; the returned value then carries it too.
func (c *Contents) Read(ctx context.Context, namespace string) (sweep.Contents, error) {
	out, err := c.read(ctx, namespace)
	if err != nil {
		return sweep.Contents{Read: true, Failed: true, Error: err.Error()}, err
	}
	return out, nil
}

func (c *Contents) read(ctx context.Context, namespace string) (sweep.Contents, error) {
	out := sweep.Contents{Read: true}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r := &changes{c: c, namespace: namespace, now: c.now(), timeless: map[types.UID]bool{}}

	nsMeta, err := c.meta.Resource(namespacesGVR).Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return out, fmt.Errorf("get namespace: %w", err)
	}
	r.see(nsMeta)

	err = eachPage(ctx, c.typed.CoreV1().Pods(namespace).List, func(pods *corev1.PodList) {
		for i := range pods.Items {
			p := &pods.Items[i]
			out.Pods++
			if p.Status.Phase == corev1.PodRunning {
				out.PodsRunning++
			}
			r.see(p)
		}
	})
	if err != nil {
		return out, fmt.Errorf("list pods: %w", err)
	}
	err = eachPage(ctx, c.typed.CoreV1().PersistentVolumeClaims(namespace).List, func(pvcs *corev1.PersistentVolumeClaimList) {
		for i := range pvcs.Items {
			pvc := &pvcs.Items[i]
			out.PVCs++
			if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
				out.StorageRequestedBytes += q.Value()
			}
			r.see(pvc)
		}
	})
	if err != nil {
		return out, fmt.Errorf("list persistentvolumeclaims: %w", err)
	}
	for _, gvr := range c.resources {
		err = eachPage(ctx, c.meta.Resource(gvr).Namespace(namespace).List, func(list *metav1.PartialObjectMetadataList) {
			for i := range list.Items {
				r.see(&list.Items[i])
			}
		})
		if err != nil {
			return out, fmt.Errorf("list %s: %w", gvrString(gvr), err)
		}
	}
	// Only a complete read knows which objects are gone.
	c.sightings.keep(namespace, r.timeless)
	out.LastChangeAt = r.last.UTC()
	return out, nil
}

// eachPage lists page by page, pageSize objects at a time, and hands each
// page to visit.
func eachPage[L interface{ GetContinue() string }](ctx context.Context, list func(context.Context, metav1.ListOptions) (L, error), visit func(L)) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		page, err := list(ctx, opts)
		if err != nil {
			return err
		}
		visit(page)
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			return nil
		}
	}
}

// changes follows the newest change of one read of a namespace.
type changes struct {
	c         *Contents
	namespace string
	now       time.Time
	last      time.Time
	// timeless are the objects that carry a counted entry without a time.
	timeless map[types.UID]bool
}

// see counts one object's changes: for an object no controller owns, its
// creation and its updates without a subresource (a pod a StatefulSet
// re-creates is not a change); for any object, scale and ephemeral
// container updates, which only a person or an autoscaler makes. Changes by
// an ignored manager do not count.
func (r *changes) see(obj metav1.Object) {
	owned := metav1.GetControllerOfNoCopy(obj) != nil
	if created := obj.GetCreationTimestamp(); !owned && created.After(r.last) {
		r.last = created.Time
	}
	timeless := false
	for _, f := range obj.GetManagedFields() {
		if slices.Contains(r.c.ignore, f.Manager) {
			continue
		}
		if f.Subresource == "" && owned || f.Subresource != "" && !slices.Contains(changeSubresources, f.Subresource) {
			continue
		}
		if f.Time == nil {
			timeless = true
			continue
		}
		if f.Time.After(r.last) {
			r.last = f.Time.Time
		}
	}
	if timeless {
		r.timeless[obj.GetUID()] = true
		if at := r.c.sightings.at(r.namespace, obj.GetUID(), obj.GetGeneration(), r.now); at.After(r.last) {
			r.last = at
		}
	}
}

// Sightings remember when this process first saw each object carrying a
// counted managedFields entry without a time, at its current generation.
// The API server writes the scale subresource's entry without one, and a
// second scale rewrites the same entry: a first sighting, and a generation
// that moved since, are all that date the change. A new process sees every
// such object anew, so a restart re-earns the quiet period, as it re-earns
// the evidence age. Safe for concurrent use.
type Sightings struct {
	mu          sync.Mutex
	byNamespace map[string]map[types.UID]sighting
}

type sighting struct {
	generation int64
	at         time.Time
}

// NewSightings returns an empty memory: everything is seen for the first time.
func NewSightings() *Sightings {
	return &Sightings{byNamespace: map[string]map[types.UID]sighting{}}
}

// at is when the object was first seen at this generation: now, when it
// was never seen or its generation moved.
func (s *Sightings) at(namespace string, uid types.UID, generation int64, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.byNamespace[namespace]
	if objs == nil {
		objs = map[types.UID]sighting{}
		s.byNamespace[namespace] = objs
	}
	if was, ok := objs[uid]; ok && was.generation == generation {
		return was.at
	}
	objs[uid] = sighting{generation: generation, at: now}
	return now
}

// keep drops the namespace's objects that a complete read no longer saw.
func (s *Sightings) keep(namespace string, seen map[types.UID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid := range s.byNamespace[namespace] {
		if !seen[uid] {
			delete(s.byNamespace[namespace], uid)
		}
	}
	if len(s.byNamespace[namespace]) == 0 {
		delete(s.byNamespace, namespace)
	}
}

// Forget drops every namespace for which keep is false (no longer a
// candidate): were it read again, its objects would be seen anew, which
// errs on the side of a recent change.
func (s *Sightings) Forget(keep func(namespace string) bool) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns := range s.byNamespace {
		if !keep(ns) {
			delete(s.byNamespace, ns)
		}
	}
}

func gvrString(g schema.GroupVersionResource) string {
	if g.Group == "" {
		return g.Resource
	}
	return g.Resource + "." + g.Group
}
