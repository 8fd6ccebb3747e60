package kube

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/orphansweep/orphans/internal/api"
)

// ChangeResources are read, metadata only, for the newest change inside a
// namespace, besides the Namespace itself and its Pods and PVCs. Secrets are
// never read.
var ChangeResources = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
}

// ContentsOptions shape the contents reader.
type ContentsOptions struct {
	// QPS and Burst limit the reader's own client, apart from the informer's
	// and the fresh checks'.
	QPS   float32
	Burst int
	// IgnoreManagers are field managers whose changes do not count.
	IgnoreManagers []string
	// Extra are resources read besides ChangeResources (an operator's CRDs).
	Extra []schema.GroupVersionResource
	// OnRequest is called for every API request the reader makes.
	OnRequest func()
}

// Contents reads what a namespace holds: what a reclaim would destroy.
type Contents struct {
	typed     kubernetes.Interface
	meta      metadata.Interface
	resources []schema.GroupVersionResource
	ignore    []string
	timeout   time.Duration
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
	c := &Contents{typed: typed, meta: meta, ignore: o.IgnoreManagers, timeout: cfg.Timeout,
		resources: append(slices.Clone(ChangeResources), o.Extra...)}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	return c, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const pageSize = 500

// Read reads the contents of one namespace now. The error says which read
// failed; the returned value then carries it too.
func (c *Contents) Read(ctx context.Context, namespace string) (api.Contents, error) {
	out, err := c.read(ctx, namespace)
	if err != nil {
		return api.Contents{Error: err.Error()}, err
	}
	return out, nil
}

func (c *Contents) read(ctx context.Context, namespace string) (api.Contents, error) {
	var out api.Contents
	var last time.Time
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	nsMeta, err := c.meta.Resource(namespacesGVR).Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return out, fmt.Errorf("get namespace: %w", err)
	}
	last = c.newer(last, nsMeta.ObjectMeta)

	err = eachPage(ctx, c.typed.CoreV1().Pods(namespace).List, func(pods *corev1.PodList) {
		for i := range pods.Items {
			p := &pods.Items[i]
			out.Pods++
			if p.Status.Phase == corev1.PodRunning {
				out.PodsRunning++
			}
			if metav1.GetControllerOfNoCopy(p) == nil {
				last = c.newer(last, p.ObjectMeta)
			}
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
			if metav1.GetControllerOfNoCopy(pvc) == nil {
				last = c.newer(last, pvc.ObjectMeta)
			}
		}
	})
	if err != nil {
		return out, fmt.Errorf("list persistentvolumeclaims: %w", err)
	}
	for _, gvr := range c.resources {
		err = eachPage(ctx, c.meta.Resource(gvr).Namespace(namespace).List, func(list *metav1.PartialObjectMetadataList) {
			for i := range list.Items {
				if m := &list.Items[i]; metav1.GetControllerOfNoCopy(m) == nil {
					last = c.newer(last, m.ObjectMeta)
				}
			}
		})
		if err != nil {
			return out, fmt.Errorf("list %s: %w", gvrString(gvr), err)
		}
	}
	out.LastChangeAt = last.UTC()
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

// newer returns the later of t and the object's newest creation or
// non-status change by a manager that counts.
func (c *Contents) newer(t time.Time, m metav1.ObjectMeta) time.Time {
	if m.CreationTimestamp.After(t) {
		t = m.CreationTimestamp.Time
	}
	for _, f := range m.ManagedFields {
		if f.Subresource != "" || f.Time == nil || slices.Contains(c.ignore, f.Manager) {
			continue
		}
		if f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}

func gvrString(g schema.GroupVersionResource) string {
	if g.Group == "" {
		return g.Resource
	}
	return g.Resource + "." + g.Group
}
