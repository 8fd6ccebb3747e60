//go:build tools

// Package tools pins cyclonedx-gomod, which writes the SBOM of each released
// binary from the module versions built into it.
package tools

import _ "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
