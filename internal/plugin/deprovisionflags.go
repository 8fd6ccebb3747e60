package plugin

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/orphansweep/orphans/internal/deprovision"
)

// DeprovisionFlags say how to reach the platform's deprovision API, for
// plan (which registers plans) and reclaim.
type DeprovisionFlags struct {
	DeprovisionURL       string
	DeprovisionTokenFile string
	DeprovisionCAFile    string
	DeprovisionTimeout   time.Duration
}

func defaultDeprovisionFlags() DeprovisionFlags {
	return DeprovisionFlags{DeprovisionTimeout: 30 * time.Second}
}

// AddFlags declares the flags.
func (f *DeprovisionFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.DeprovisionURL, "deprovision-url", f.DeprovisionURL, "Base URL of the platform's deprovision API (default: $"+EnvDeprovisionURL+").")
	fs.StringVar(&f.DeprovisionTokenFile, "deprovision-token-file", f.DeprovisionTokenFile, "File holding your personal bearer secret for the deprovision API (default: $"+EnvDeprovisionToken+").")
	fs.StringVar(&f.DeprovisionCAFile, "deprovision-ca-file", f.DeprovisionCAFile, "CA certificate(s) to verify the deprovision API's certificate.")
	fs.DurationVar(&f.DeprovisionTimeout, "deprovision-timeout", f.DeprovisionTimeout, "Deadline of each request to the deprovision API.")
}

// resolve fills the URL from the environment when no flag gave it and
// reads the secret, from the file or else the environment ("" when
// neither gives one).
func (f *DeprovisionFlags) resolve() (deprovision.Secret, error) {
	if f.DeprovisionURL == "" {
		f.DeprovisionURL = os.Getenv(EnvDeprovisionURL)
	}
	switch {
	case f.DeprovisionTokenFile != "":
		return deprovision.SecretFromFile(f.DeprovisionTokenFile)
	case os.Getenv(EnvDeprovisionToken) != "":
		s, err := deprovision.ParseSecret(os.Getenv(EnvDeprovisionToken))
		if err != nil {
			return "", fmt.Errorf("$%s %w", EnvDeprovisionToken, err)
		}
		return s, nil
	}
	return "", nil
}

// client returns a client of the deprovision API that authenticates with secret.
func (f DeprovisionFlags) client(secret deprovision.Secret) (*deprovision.Client, error) {
	if f.DeprovisionTimeout <= 0 {
		return nil, fmt.Errorf("--deprovision-timeout must be positive, got %s", f.DeprovisionTimeout)
	}
	return deprovision.New(deprovision.Config{
		URL: f.DeprovisionURL, Secret: secret, Timeout: f.DeprovisionTimeout,
		CAFile: f.DeprovisionCAFile, UserAgent: userAgent(),
	})
}
