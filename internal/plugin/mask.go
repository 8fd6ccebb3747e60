package plugin

import (
	"strings"

	"github.com/orphansweep/orphans/internal/logsafe"
)

// defaultPrefix is the tenant namespace prefix of the reference platform,
// used for masking until the exporter has told us its own.
const defaultPrefix = "instant-customer-"

// masker hides tenant tokens in human output: the table formats, the
// confirmation, outcome details and errors. Only -o json|yaml|name show
// full values, because those exist to be fed to other programs.
type masker struct {
	prefixes []string
	r        *logsafe.Redactor
}

func newMasker(prefixes ...string) *masker {
	ps := []string{defaultPrefix}
	for _, p := range prefixes {
		if p != "" && p != defaultPrefix {
			ps = append(ps, p)
		}
	}
	return &masker{prefixes: ps, r: logsafe.NewRedactor(ps...)}
}

// Namespace returns ns with its token masked.
func (m *masker) Namespace(ns string) string {
	for _, p := range m.prefixes {
		if strings.HasPrefix(ns, p) {
			return logsafe.Namespace{Name: ns, Prefix: p}.String()
		}
	}
	return logsafe.Namespace{Name: ns}.String()
}

// Text masks every token in free text such as an error message.
func (m *masker) Text(s string) string { return m.r.Redact(s) }
