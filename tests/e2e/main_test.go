//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/testenv"
)

// The stamped version `kubectl orphans version` must print.
const testVersion = testenv.TestVersion

// Kubernetes users of the test bed.
const (
	// operator may read the exporter through the service proxy.
	operator = "alice@example.com"
	// outsider is authenticated but has no RBAC access to the exporter.
	outsider = "mallory@example.com"
	// exporterUser is the exporter's own identity: get/list/watch namespaces.
	exporterUser = "system:orphans-exporter"
)

// bed is the test bed every test shares: the built binaries, one
// PostgreSQL server and one control plane. Tests keep apart by label
// selector and database.
var bed struct {
	dir         string
	binDir      string
	exporterBin string
	kubectl     string
	pg          *testenv.Postgres
	cp          *testenv.ControlPlane
	admin       kubernetes.Interface
	kubeconfig  map[string]string
}

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "orphans-plugin-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bed.dir = dir
	bins, err := testenv.Build()
	if err != nil {
		return 0, err
	}
	// The directory holds kubectl-orphans and its completion shim: on PATH,
	// kubectl's plugin discovery finds them.
	bed.binDir, bed.exporterBin = bins.Dir, bins.Exporter
	assets, err := testenv.AssetsDir()
	if err != nil {
		return 0, err
	}
	bed.kubectl = filepath.Join(assets, "kubectl")
	if _, err := os.Stat(bed.kubectl); err != nil {
		if bed.kubectl, err = exec.LookPath("kubectl"); err != nil {
			return 0, errors.New("kubectl is neither in KUBEBUILDER_ASSETS nor on PATH: the plugin is tested through kubectl's own plugin discovery")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if bed.pg, err = testenv.StartPostgres(ctx, testenv.PostgresOptions{}); err != nil {
		return 0, err
	}
	defer bed.pg.Stop()
	if bed.cp, err = testenv.StartControlPlane(testenv.ControlPlaneOptions{}); err != nil {
		return 0, err
	}
	defer bed.cp.Stop()
	if bed.admin, err = bed.cp.Clientset(); err != nil {
		return 0, err
	}
	if err := setupUsers(ctx); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// setupUsers creates the users, their kubeconfigs and the RBAC the
// deployment gives them (the operator's Role is made by the proxy test,
// beside the Service it names).
func setupUsers(ctx context.Context) error {
	bed.kubeconfig = map[string]string{}
	for name, groups := range map[string][]string{
		operator:     {"orphans-operators"},
		approver:     nil,
		outsider:     nil,
		exporterUser: nil,
	} {
		u, err := bed.cp.AddUser(name, groups...)
		if err != nil {
			return fmt.Errorf("add user %s: %w", name, err)
		}
		path := filepath.Join(bed.dir, strings.NewReplacer("@", "-", ":", "-").Replace(name)+".kubeconfig")
		if err := testenv.WriteKubeconfig(u, path); err != nil {
			return err
		}
		bed.kubeconfig[name] = path
	}
	rbac := bed.admin.RbacV1()
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "orphans-exporter"},
		Rules:      testenv.ExporterRules(),
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "orphans-exporter"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "orphans-exporter"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: exporterUser}},
	}, metav1.CreateOptions{})
	return err
}
