package testenv

import (
	"fmt"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// ShippedClusterRole reads a ClusterRole manifest of the repository (a path
// relative to its root, e.g. deploy/base/operator-clusterrole.yaml), so a
// test grants exactly what the deployment ships.
func ShippedClusterRole(rel string) (*rbacv1.ClusterRole, error) {
	var r rbacv1.ClusterRole
	if err := readManifest(rel, "ClusterRole", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ShippedRole reads a Role manifest of the repository, as ShippedClusterRole.
func ShippedRole(rel string) (*rbacv1.Role, error) {
	var r rbacv1.Role
	if err := readManifest(rel, "Role", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func readManifest(rel, kind string, into any) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if meta.Kind != kind || meta.APIVersion != rbacv1.SchemeGroupVersion.String() {
		return fmt.Errorf("%s holds %s %s, want %s %s", rel, meta.APIVersion, meta.Kind, rbacv1.SchemeGroupVersion, kind)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}
