package plugin

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/orphansweep/orphans/internal/exporterclient"
	"github.com/orphansweep/orphans/internal/transport"
)

// EnvExporterPassword holds the exporter's basic-auth password when
// --exporter-password-file is not given. Secrets are never flag values.
const EnvExporterPassword = "ORPHANS_EXPORTER_PASSWORD"

// ExporterFlags say how to reach the exporter: through the API server's
// service proxy (the default, so Kubernetes RBAC governs access) or directly
// at --exporter-url.
type ExporterFlags struct {
	Namespace string
	Service   string
	Port      string
	TLS       bool

	URL          string
	CAFile       string
	CertFile     string
	KeyFile      string
	Username     string
	PasswordFile string

	Timeout time.Duration
}

// NewExporterFlags returns the defaults.
func NewExporterFlags() *ExporterFlags {
	return &ExporterFlags{Namespace: "orphans-system", Service: "orphans-exporter", Port: "api", Timeout: 30 * time.Second}
}

// AddFlags registers the flags on fs.
func (f *ExporterFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Namespace, "exporter-namespace", f.Namespace, "Namespace of the exporter's Service (service-proxy access).")
	fs.StringVar(&f.Service, "exporter-service", f.Service, "Name of the exporter's Service (service-proxy access).")
	fs.StringVar(&f.Port, "exporter-port", f.Port, "Name of the Service port of the exporter's API listener (service-proxy access).")
	fs.BoolVar(&f.TLS, "exporter-tls", f.TLS, "The exporter serves HTTPS: proxy to https:<service>:<port> instead of http:<service>:<port>.")
	fs.StringVar(&f.URL, "exporter-url", f.URL, "Reach the exporter directly at this URL instead of through the API server's service proxy.")
	fs.StringVar(&f.CAFile, "exporter-ca-file", f.CAFile, "CA certificate(s) to verify the exporter's serving certificate (--exporter-url only).")
	fs.StringVar(&f.CertFile, "exporter-cert-file", f.CertFile, "Client certificate for the exporter's TLS client authentication (--exporter-url only).")
	fs.StringVar(&f.KeyFile, "exporter-key-file", f.KeyFile, "Key of --exporter-cert-file.")
	fs.StringVar(&f.Username, "exporter-username", f.Username, "Basic-auth user of the exporter's web config (--exporter-url only).")
	fs.StringVar(&f.PasswordFile, "exporter-password-file", f.PasswordFile, "File holding the basic-auth password (default: $"+EnvExporterPassword+").")
	fs.DurationVar(&f.Timeout, "exporter-timeout", f.Timeout, "Deadline of each request to the exporter.")
}

// ProxyServiceName is the service-proxy name the API server resolves:
// <scheme>:<service>:<port>. RBAC rules on services/proxy must name exactly
// this string in resourceNames.
func (f *ExporterFlags) ProxyServiceName() string {
	scheme := "http"
	if f.TLS {
		scheme = "https"
	}
	return scheme + ":" + f.Service + ":" + f.Port
}

// Validate checks the flags without touching the network.
func (f *ExporterFlags) Validate() error {
	if f.Timeout <= 0 {
		return fmt.Errorf("--exporter-timeout must be positive, got %s", f.Timeout)
	}
	if f.URL == "" {
		for _, c := range []struct{ flag, v string }{
			{"--exporter-ca-file", f.CAFile}, {"--exporter-cert-file", f.CertFile}, {"--exporter-key-file", f.KeyFile},
			{"--exporter-username", f.Username}, {"--exporter-password-file", f.PasswordFile},
		} {
			if c.v != "" {
				return fmt.Errorf("%s applies only with --exporter-url; through the service proxy the API server authenticates you", c.flag)
			}
		}
		if errs := validation.IsDNS1123Label(f.Namespace); len(errs) > 0 {
			return fmt.Errorf("--exporter-namespace %q: %s", f.Namespace, strings.Join(errs, "; "))
		}
		if errs := validation.IsDNS1035Label(f.Service); len(errs) > 0 {
			return fmt.Errorf("--exporter-service %q: %s", f.Service, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidPortName(f.Port); len(errs) > 0 {
			return fmt.Errorf("--exporter-port %q must be a port name: %s", f.Port, strings.Join(errs, "; "))
		}
		return nil
	}
	if f.TLS {
		return errors.New("--exporter-tls applies only to the service proxy; give an https:// --exporter-url instead")
	}
	u, err := transport.ParseURL(f.URL)
	if errors.Is(err, transport.ErrUserInfo) {
		return errors.New("--exporter-url must not carry user information; use --exporter-username and --exporter-password-file")
	}
	if err != nil {
		return fmt.Errorf("--exporter-url %w", err)
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return errors.New("--exporter-cert-file and --exporter-key-file go together")
	}
	if u.Scheme == "http" && (f.CAFile != "" || f.CertFile != "") {
		return errors.New("TLS flags given for an http:// --exporter-url")
	}
	if f.PasswordFile != "" && f.Username == "" {
		return errors.New("--exporter-password-file needs --exporter-username")
	}
	return nil
}

// Config validates the flags and returns the client configuration they
// give. The REST config is read only for service-proxy access; the password
// only for basic auth.
func (f *ExporterFlags) Config(getter genericclioptions.RESTClientGetter, userAgent string) (exporterclient.Config, error) {
	if err := f.Validate(); err != nil {
		return exporterclient.Config{}, err
	}
	cfg := exporterclient.Config{Timeout: f.Timeout, UserAgent: userAgent}
	if f.URL == "" {
		rc, err := getter.ToRESTConfig()
		if err != nil {
			return exporterclient.Config{}, fmt.Errorf("kubeconfig: %w", err)
		}
		cfg.Proxy = &exporterclient.Proxy{REST: rc, Namespace: f.Namespace, Service: f.ProxyServiceName()}
		return cfg, nil
	}
	cfg.URL = f.URL
	cfg.TLS = transport.TLSFiles{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile}
	if f.Username != "" {
		pw := os.Getenv(EnvExporterPassword)
		if f.PasswordFile != "" {
			b, err := os.ReadFile(f.PasswordFile)
			if err != nil {
				return exporterclient.Config{}, fmt.Errorf("--exporter-password-file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		if pw == "" {
			return exporterclient.Config{}, fmt.Errorf("--exporter-username needs a password: --exporter-password-file or $%s", EnvExporterPassword)
		}
		cfg.Username, cfg.Password = f.Username, pw
	}
	return cfg, nil
}
