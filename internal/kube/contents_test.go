package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Secrets are refused in every spelling, at start, in one line; the other
// resources parse to what the API server serves.
func TestParseResource(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    schema.GroupVersionResource
		secrets bool // refused as Secrets
		bad     bool // refused as malformed
	}{
		{in: "v1/services", want: schema.GroupVersionResource{Version: "v1", Resource: "services"}},
		{in: "/v1/services", want: schema.GroupVersionResource{Version: "v1", Resource: "services"}},
		{in: "core/v1/endpoints", want: schema.GroupVersionResource{Version: "v1", Resource: "endpoints"}},
		{in: " postgresql.cnpg.io/v1/clusters ", want: schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}},
		{in: "databases.example.com/v1alpha1/redisfailovers", want: schema.GroupVersionResource{Group: "databases.example.com", Version: "v1alpha1", Resource: "redisfailovers"}},

		{in: "v1/secrets", secrets: true},
		{in: "/v1/secrets", secrets: true},
		{in: "secrets", secrets: true},
		{in: "core/v1/secrets", secrets: true},
		{in: "Secrets", secrets: true},
		{in: "v1/secrets ", secrets: true},
		{in: " v1 / secrets", secrets: true},
		{in: "v1/Secrets", secrets: true},
		{in: "/v1/SECRETS", secrets: true},
		{in: "v1/secret", secrets: true},
		{in: "secret", secrets: true},
		{in: "secrets.v1.", secrets: true},
		{in: "secrets.v1.core", secrets: true},
		{in: "v2/secrets", secrets: true},
		{in: "example.com/v1/secrets", secrets: true},
		{in: "a/b/c/secrets", secrets: true},

		{in: "services", bad: true},
		{in: "", bad: true},
		{in: "v1/", bad: true},
		{in: "/services", bad: true},
		{in: "apps//deployments", bad: true},
		{in: "apps/v1/deployments/scale", bad: true},
		{in: "v1/Pods", bad: true},
		{in: "Apps/v1/deployments", bad: true},
		{in: "apps/V1/deployments", bad: true},
		{in: "v1/sealedsecrets.bitnami.com", bad: true},
	} {
		got, err := ParseResource(tc.in)
		switch {
		case tc.secrets || tc.bad:
			if err == nil {
				t.Errorf("ParseResource(%q) = %v, want an error", tc.in, got)
				continue
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseResource(%q): the error is not one line: %q", tc.in, err)
			}
			if isSecrets := strings.Contains(err.Error(), "Secrets are never read"); isSecrets != tc.secrets {
				t.Errorf("ParseResource(%q): %v; refused as Secrets %v, want %v", tc.in, err, isSecrets, tc.secrets)
			}
		case err != nil:
			t.Errorf("ParseResource(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseResource(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
