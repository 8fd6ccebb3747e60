//go:build tools

// Package tools pins helm, used to lint, render and package the chart.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
