// Package deploy_test checks deploy/ against the real tools that consume it:
// kustomize (kubectl kustomize), a kube-apiserver with RBAC and the Prometheus
// Operator CRDs, jsonnet (the mixin the rules and dashboard are rendered
// from), promtool, the exporter binary, and krew. Those checks carry the
// integration build tag; what can be read in Go alone (the dashboard, the
// rule files, the image references, the krew manifest) is checked without it.
package deploy_test

import (
	"sync"

	"github.com/orphansweep/orphans/internal/testenv"
)

var rootOnce = sync.OnceValues(testenv.RepoRoot)

func repoRoot() string {
	root, err := rootOnce()
	if err != nil {
		panic(err)
	}
	return root
}
