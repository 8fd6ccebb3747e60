//go:build tools

// Package tools pins promtool, used to check and unit-test the alert rules.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
