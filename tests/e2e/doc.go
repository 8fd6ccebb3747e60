//go:build integration

// Package e2e tests kubectl-orphans end to end: the real kubectl finds the
// plugin on PATH, the plugin talks to the real exporter (directly and
// through a real kube-apiserver's service proxy) over a real PostgreSQL
// ledger, and reclaims through a local stand-in of the deprovision API that
// enforces the contract. TestMain builds the binaries (testenv.Build) and
// starts the bed.
package e2e
