// Package kube is the exporter's view of the cluster: a metadata-only cache of
// namespaces kept by an informer, and a fresh GET of one namespace.
package kube

import (
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	// Cloud auth plugins (exec, OIDC) for kubeconfigs outside the cluster.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// ClientOptions shape the client.
type ClientOptions struct {
	// Kubeconfig is a path; empty means in-cluster, then $KUBECONFIG and ~/.kube/config.
	Kubeconfig string
	// Timeout bounds every non-watch request.
	Timeout   time.Duration
	UserAgent string
	QPS       float32
	Burst     int
}

// RESTConfig loads a client configuration.
func RESTConfig(o ClientOptions) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = o.Timeout
	if o.UserAgent != "" {
		cfg.UserAgent = o.UserAgent
	}
	if o.QPS > 0 {
		cfg.QPS, cfg.Burst = o.QPS, o.Burst
	}
	// Metadata is all the exporter reads; protobuf keeps lists small.
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg, nil
}
