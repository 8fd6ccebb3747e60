package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/orphansweep/orphans/internal/sweep"
)

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// Namespaces keeps a metadata-only cache of the cluster's namespaces and can
// read one namespace fresh from the API server.
//
// A cache cannot tell a quiet cluster from a dead connection, so Namespaces
// watches its own list and watch calls: the cache is trusted only while the
// most recent of them succeeded and, after a failure, once the cache has
// caught up with the API server: a watch call that succeeds again says
// nothing about the changes made meanwhile, which an API server that has
// just restarted may deliver many seconds later. The cache has caught up
// when the informer's resource version reaches that of a list read from the
// API server after the failure.
type Namespaces struct {
	client   metadata.Interface
	informer cache.SharedIndexInformer
	timeout  time.Duration

	mu      sync.Mutex
	lastErr error
	errAt   time.Time
	// recovering is set from a failure until the cache has caught up with
	// target, the resource version of a list read after it (at checkedAt;
	// empty until one succeeds).
	recovering bool
	target     string
	checkedAt  time.Time
	// currentRV reads the API server's resource version of the
	// namespaces, now.
	currentRV func(context.Context) (string, error)
}

// NewNamespaces prepares the informer; Run starts it. selector is a label
// selector applied by the API server ("" for all namespaces).
func NewNamespaces(cfg *rest.Config, selector string) (*Namespaces, error) {
	client, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	n := &Namespaces{client: client, timeout: cfg.Timeout}
	// A list without a resource version is a consistent read: its version
	// is the API server's at this moment.
	n.currentRV = func(ctx context.Context) (string, error) {
		list, err := client.Resource(namespacesGVR).List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
		if err != nil {
			return "", fmt.Errorf("list namespaces: %w", err)
		}
		return list.GetResourceVersion(), nil
	}
	if n.timeout <= 0 {
		n.timeout = 10 * time.Second
	}
	// client-go applies a config's Timeout to the whole response, so it
	// would cut the watch every Timeout and the informer would re-open it:
	// a request per Timeout in a steady state, and an initial watch-list
	// of a large fleet that never completes. The informer's client has
	// none; its lists get the deadline from their context, and the server
	// ends watches on its own schedule.
	streamCfg := rest.CopyConfig(cfg)
	streamCfg.Timeout = 0
	streamClient, err := metadata.NewForConfig(streamCfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	res := streamClient.Resource(namespacesGVR)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = selector
			ctx, cancel := context.WithTimeout(ctx, n.timeout)
			defer cancel()
			obj, err := res.List(ctx, opts)
			n.observe(err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = selector
			w, err := res.Watch(ctx, opts)
			n.observe(err)
			return w, err
		},
	}
	n.informer = cache.NewSharedIndexInformerWithOptions(
		cache.ToListWatcherWithWatchListSemantics(lw, streamClient),
		&metav1.PartialObjectMetadata{},
		cache.SharedIndexInformerOptions{ObjectDescription: "namespaces"},
	)
	if err := n.informer.SetTransform(strip); err != nil {
		return nil, err
	}
	if err := n.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		n.observe(err)
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// Run runs the informer until ctx ends.
func (n *Namespaces) Run(ctx context.Context) { n.informer.RunWithContext(ctx) }

// Synced reports whether the initial list has been loaded.
func (n *Namespaces) Synced() bool { return n.informer.HasSynced() }

// Healthy returns nil when the cache can be trusted: it has synced and the
// latest list or watch call succeeded.
func (n *Namespaces) Healthy() error {
	n.mu.Lock()
	err, at, recovering := n.lastErr, n.errAt, n.recovering
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("namespace watch failing since %s: %w", at.UTC().Format(time.RFC3339), err)
	}
	if recovering {
		if err := n.caughtUp(); err != nil {
			return fmt.Errorf("namespace watch failed at %s and is back, but the cache has not caught up with the API server yet: %w", at.UTC().Format(time.RFC3339), err)
		}
	}
	if !n.informer.HasSynced() {
		return errors.New("namespace cache not synced yet")
	}
	return nil
}

// recheck is how often, while the cache catches up, a list reads the
// resource version it must reach: the API server's moves on.
const recheck = 5 * time.Second

// caughtUp returns nil once the informer's resource version has reached
// that of a list read after the failure, and ends the recovery.
func (n *Namespaces) caughtUp() error {
	n.mu.Lock()
	target, checkedAt := n.target, n.checkedAt
	n.mu.Unlock()
	if target == "" || time.Since(checkedAt) >= recheck {
		ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
		defer cancel()
		current, err := n.currentRV(ctx)
		if err != nil {
			return err
		}
		n.mu.Lock()
		if target == "" || !resourceVersionAtLeast(target, current) {
			target = current
		}
		n.target, n.checkedAt = target, time.Now()
		n.mu.Unlock()
	}
	rv := n.informer.LastSyncResourceVersion()
	if !resourceVersionAtLeast(rv, target) {
		return fmt.Errorf("the cache is at resource version %q, the API server was at %q", rv, target)
	}
	n.mu.Lock()
	if n.lastErr == nil {
		n.recovering, n.target = false, ""
	}
	n.mu.Unlock()
	return nil
}

// resourceVersionAtLeast reports whether resource version a is b or later.
// Resource versions are opaque; the API server's are etcd revisions, which
// compare as numbers, and any other compares only for equality.
func resourceVersionAtLeast(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a == b
	}
	return x >= y
}

func (n *Namespaces) observe(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil {
		n.lastErr = nil
		return
	}
	if n.lastErr == nil && !n.recovering {
		n.errAt = time.Now()
	}
	// A failure during the recovery starts it again.
	n.lastErr, n.recovering, n.target = err, true, ""
}

// List returns the cached namespaces. It makes no request.
func (n *Namespaces) List() []sweep.Namespace {
	objs := n.informer.GetStore().List()
	out := make([]sweep.Namespace, 0, len(objs))
	for _, o := range objs {
		if m, ok := o.(*metav1.PartialObjectMetadata); ok {
			out = append(out, fromMeta(m))
		}
	}
	return out
}

// Get reads one namespace from the API server, not the cache. found is false
// when it does not exist.
func (n *Namespaces) Get(ctx context.Context, name string) (ns sweep.Namespace, found bool, err error) {
	return getNamespace(ctx, n.client, n.timeout, name)
}

// NamespaceGetter reads single namespaces from the API server through a
// client and a rate limiter of its own, so that many GETs in a row (a ghost
// sweep confirming its ghosts) neither wait for nor delay the namespace
// cache and the fresh checks.
type NamespaceGetter struct {
	client  metadata.Interface
	timeout time.Duration
}

// NewNamespaceGetter builds a getter on cfg limited to qps requests a
// second, in bursts of burst.
func NewNamespaceGetter(cfg *rest.Config, qps float32, burst int) (*NamespaceGetter, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = qps, max(1, burst)
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	client, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	g := &NamespaceGetter{client: client, timeout: cfg.Timeout}
	if g.timeout <= 0 {
		g.timeout = 10 * time.Second
	}
	return g, nil
}

// Get reads one namespace; found is false when it does not exist.
func (g *NamespaceGetter) Get(ctx context.Context, name string) (ns sweep.Namespace, found bool, err error) {
	return getNamespace(ctx, g.client, g.timeout, name)
}

func getNamespace(ctx context.Context, client metadata.Interface, timeout time.Duration, name string) (sweep.Namespace, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := client.Resource(namespacesGVR).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return sweep.Namespace{}, false, nil
	}
	if err != nil {
		return sweep.Namespace{}, false, fmt.Errorf("get namespace: %w", err)
	}
	return fromMeta(m), true, nil
}

func fromMeta(m *metav1.PartialObjectMetadata) sweep.Namespace {
	return sweep.Namespace{
		Name:        m.Name,
		UID:         string(m.UID),
		Labels:      m.Labels,
		CreatedAt:   m.CreationTimestamp.Time,
		Terminating: m.DeletionTimestamp != nil,
	}
}

// strip keeps only what a verdict needs, so the cache's memory grows with the
// number of namespaces and not with what other tools write on them.
func strip(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: m.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              m.Name,
			UID:               m.UID,
			ResourceVersion:   m.ResourceVersion,
			Labels:            m.Labels,
			CreationTimestamp: m.CreationTimestamp,
			DeletionTimestamp: m.DeletionTimestamp,
		},
	}, nil
}
