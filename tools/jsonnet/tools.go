//go:build tools

// Package tools pins go-jsonnet's evaluator, which renders the alerts and the
// dashboard from the mixin in deploy/mixin.
package tools

import _ "github.com/google/go-jsonnet/cmd/jsonnet"
