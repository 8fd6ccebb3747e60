//go:build tools

// Package tools pins krew and its manifest validator, used to test the plugin's packaging.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
