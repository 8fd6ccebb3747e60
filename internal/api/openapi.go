package api

import _ "embed"

// DeprovisionOpenAPI is the OpenAPI 3 document of the platform's audited
// deprovision API (deprovision.openapi.yaml). The local stand-in server
// validates every request against it, so the file cannot drift from what the
// client sends.
//
//go:embed deprovision.openapi.yaml
var DeprovisionOpenAPI []byte
