package exporter

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// The exporter's two listeners: metrics and probes on one, the token-bearing
// API on the other, so that whoever may scrape cannot read tenant tokens.
const (
	DefaultListenAddress    = ":9866"
	DefaultAPIListenAddress = ":9867"
)

// Values of --web.auth.
const (
	AuthNone       = "none"
	AuthKubernetes = "kubernetes"
)

// Paths of the two listeners. The probes answer on the metrics listener
// without credentials, whatever its web config says.
var (
	probePaths = []string{"/healthz", "/livez", "/readyz"}
	apiPaths   = []string{"/candidates", "/candidates/{namespace}", "/ghosts"}
)

// WebOptions are the raw flags of the two listeners.
type WebOptions struct {
	Metrics       *web.FlagConfig
	TelemetryPath string
	API           *web.FlagConfig
	Auth          string
}

func (o *WebOptions) addFlags(app *kingpin.Application) {
	o.Metrics = kingpinflag.AddFlags(app, DefaultListenAddress)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.TelemetryPath)
	o.API = &web.FlagConfig{
		WebListenAddresses: app.Flag("api.listen-address", "Addresses on which to serve the API that carries tenant tokens: /candidates, /candidates/{namespace}, /ghosts. Repeatable.").Default(DefaultAPIListenAddress).Strings(),
		WebSystemdSocket:   new(bool),
		WebConfigFile:      app.Flag("api.web-config.file", "Path to an exporter-toolkit web configuration file for the API listener (TLS, basic auth), apart from --web.config.file's.").Default("").String(),
	}
	app.Flag("web.auth", "Authentication of the metrics path: none, or kubernetes (a TokenReview and a SubjectAccessReview for get on the path, per bearer token).").Default(AuthNone).EnumVar(&o.Auth, AuthNone, AuthKubernetes)
}

// WebConfig is the validated configuration of the two listeners.
type WebConfig struct {
	Metrics       *web.FlagConfig
	TelemetryPath string
	API           *web.FlagConfig
	// KubernetesAuth: each request for TelemetryPath is authenticated with a
	// TokenReview and authorized with a SubjectAccessReview.
	KubernetesAuth bool
}

func (o *WebOptions) validate() (WebConfig, error) {
	reserved := append(append([]string{"/"}, probePaths...), apiPaths...)
	if !strings.HasPrefix(o.TelemetryPath, "/") || slices.Contains(reserved, o.TelemetryPath) || strings.HasPrefix(o.TelemetryPath, "/candidates/") {
		return WebConfig{}, fmt.Errorf("invalid --web.telemetry-path: %q: want an absolute path other than %s", o.TelemetryPath, strings.Join(reserved, ", "))
	}
	if *o.Metrics.WebSystemdSocket {
		return WebConfig{}, fmt.Errorf("invalid --web.systemd-socket: the exporter serves two listeners and cannot tell activated sockets apart; use --web.listen-address and --api.listen-address")
	}
	for _, l := range []struct {
		flag   string
		addrs  []string
		config string
		cflag  string
	}{
		{"web.listen-address", *o.Metrics.WebListenAddresses, *o.Metrics.WebConfigFile, "web.config.file"},
		{"api.listen-address", *o.API.WebListenAddresses, *o.API.WebConfigFile, "api.web-config.file"},
	} {
		if len(l.addrs) == 0 {
			return WebConfig{}, fmt.Errorf("invalid --%s: at least one address is needed", l.flag)
		}
		for _, a := range l.addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return WebConfig{}, fmt.Errorf("invalid --%s: %q: %v", l.flag, a, err)
			}
		}
		if err := web.Validate(l.config); err != nil {
			return WebConfig{}, fmt.Errorf("invalid --%s: %v", l.cflag, err)
		}
	}
	for _, m := range *o.Metrics.WebListenAddresses {
		for _, a := range *o.API.WebListenAddresses {
			if sameSocket(m, a) {
				return WebConfig{}, fmt.Errorf("invalid --api.listen-address: %q is also a --web.listen-address (%q); the API carries tenant tokens and needs a port of its own", a, m)
			}
		}
	}
	return WebConfig{Metrics: o.Metrics, TelemetryPath: o.TelemetryPath, API: o.API, KubernetesAuth: o.Auth == AuthKubernetes}, nil
}

// sameSocket reports whether two listen addresses would bind the same port on
// an overlapping host (an empty or unspecified host binds every address).
func sameSocket(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { ip := net.ParseIP(h); return h == "" || (ip != nil && ip.IsUnspecified()) }
	return ha == hb || wildcard(ha) || wildcard(hb)
}
