//go:build integration

package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/testenv"
)

// The test bed shared by this package's tests: one PostgreSQL, one control
// plane, one ledger database, and a fleet seeded once (see fleet_test.go).
var (
	pg        *testenv.Postgres
	cp        *testenv.ControlPlane
	admin     *kubernetes.Clientset
	ledgerDSN string
	tmpDir    string
)

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	ctx := context.Background()
	var err error
	if tmpDir, err = os.MkdirTemp("", "orphans-exporter-test-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmpDir)
	if pg, err = testenv.StartPostgres(ctx, testenv.PostgresOptions{Settings: map[string]string{
		// every session and statement, tagged with its application name
		"log_connections": "on", "log_statement": "all", "log_line_prefix": "%m [%p] app=%a ",
		"log_min_messages": "info",
	}}); err != nil {
		return 0, err
	}
	defer pg.Stop()
	if ledgerDSN, err = pg.CreateLedger(ctx, "ledger"); err != nil {
		return 0, err
	}
	if cp, err = testenv.StartControlPlane(testenv.ControlPlaneOptions{}); err != nil {
		return 0, err
	}
	defer cp.Stop()
	if admin, err = cp.Clientset(); err != nil {
		return 0, err
	}
	if err := createReaderRole(ctx); err != nil {
		return 0, err
	}
	if err := seedFleet(ctx); err != nil {
		return 0, fmt.Errorf("seed fleet: %w", err)
	}
	return m.Run(), nil
}

const readerRole = "orphans-exporter-test"

// createReaderRole grants what the exporter needs and nothing else.
func createReaderRole(ctx context.Context) error {
	_, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: readerRole},
		Rules:      append(namespaceRules(), contentsRules...),
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	_, err = admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: namespacesOnlyRole},
		Rules:      namespaceRules(),
	}, metav1.CreateOptions{})
	return err
}

// namespacesOnlyRole is the reader role without the contents rules.
const namespacesOnlyRole = "orphans-exporter-test-namespaces-only"

func namespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}}}
}

// contentsRules are what contents read, as in deploy/base/clusterrole.yaml.
var contentsRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "persistentvolumeclaims", "services", "configmaps", "serviceaccounts"}, Verbs: []string{"list"}},
	{APIGroups: []string{"apps"}, Resources: []string{"statefulsets", "deployments"}, Verbs: []string{"list"}},
	{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list"}},
	{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"list"}},
}

// exporterUser makes a Kubernetes user bound to the reader role and returns
// a kubeconfig for it. Each exporter in a test gets its own user, so the
// audit log can count its requests alone.
func exporterUser(t *testing.T, name string) string {
	t.Helper()
	return exporterUserWithRole(t, name, readerRole)
}

// exporterUserWithRole is exporterUser bound to another cluster role.
func exporterUserWithRole(t *testing.T, name, role string) string {
	t.Helper()
	ctx := context.Background()
	u, err := cp.AddUser(name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: name}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmpDir, name+".kubeconfig")
	if err := testenv.WriteKubeconfig(u, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// testConfig parses flags exactly as the binary does, with test defaults
// first: a short grace, and a sweep interval so long that only the first
// sweep runs on its own; tests call SweepOnce for the rest.
func testConfig(t *testing.T, kubeconfig string, env map[string]string, args ...string) Config {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	app := kingpin.New("test", "")
	var o Options
	o.AddFlags(app)
	// Later arguments override the test defaults, as a user's would.
	flags := map[string]string{
		"web.listen-address":  fmt.Sprintf("127.0.0.1:%d", port),
		"api.listen-address":  fmt.Sprintf("127.0.0.1:%d", apiPort),
		"kubeconfig":          kubeconfig,
		"sweep.grace":         fleetGrace.String(),
		"sweep.interval":      "1h",
		"sweep.confirmations": "3",
		// Tests earn the evidence age explicitly where they test it.
		"reclaim.min-evidence-age": "0s",
		"reclaim.quiet-period":     "0s",
	}
	for _, a := range args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[name] = value
	}
	var all []string
	for name, value := range flags {
		all = append(all, "--"+name+"="+value)
	}
	if _, err := app.Parse(all); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env[EnvLedgerDSN]; !ok {
		env[EnvLedgerDSN] = ledgerDSN
	}
	cfg, err := o.Validate(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var enabledEnv = func() map[string]string { return map[string]string{EnvEnabled: "true"} }
var destructiveEnv = func() map[string]string {
	return map[string]string{EnvEnabled: "true", EnvDestructive: "true"}
}

type running struct {
	*Exporter
	// url is the metrics listener's, apiURL the API listener's.
	url, apiURL string
	logs        *testenv.SyncBuffer
}

// start runs an exporter until the test ends and waits until it serves.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	lc := &promslog.Config{Writer: logs}
	lc.Level = promslog.NewLevel()
	_ = lc.Level.Set("debug")
	lc.Format = promslog.NewFormat()
	_ = lc.Format.Set("json")
	e, err := New(cfg, NewLogger(lc, cfg.Redactor()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r := &running{Exporter: e, url: "http://" + (*cfg.Web.Metrics.WebListenAddresses)[0],
		apiURL: "http://" + (*cfg.Web.API.WebListenAddresses)[0], logs: logs}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("exporter Run: %v", err)
		}
		e.Close()
		if t.Failed() {
			t.Logf("exporter logs:\n%s", logs.String())
		}
	})
	waitCtx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := testenv.WaitFor(waitCtx, func() (bool, error) {
		code, _ := r.get(t, "/readyz")
		return code == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("exporter not ready: %v\n%s", err, logs.String())
	}
	return r
}

func (r *running) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	base := r.url
	if apiRoute(path) {
		base = r.apiURL
	}
	resp, err := http.Get(base + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (r *running) getJSON(t *testing.T, path string, into any) int {
	t.Helper()
	code, body := r.get(t, path)
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %d %q: %v", path, code, body, err)
	}
	return code
}

// sweep runs one sweep now.
// sweep sweeps on the contents of the candidates known so far, read first
// if the contents loop has not yet, then reads those of new candidates as
// the loop does after a sweep, so that the next sweep decides on them.
func (r *running) sweep() {
	if r.contents != nil {
		r.contents.round(context.Background(), false)
	}
	r.sweeper.SweepOnce(context.Background())
	if r.contents != nil {
		r.contents.round(context.Background(), false)
	}
}

// metric returns the value of one series from the exporter's registry.
func (r *running) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m.GetLabel(), labels) {
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue()
				case m.Counter != nil:
					return m.GetCounter().GetValue()
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	t.Fatalf("series %s%v not exported", name, labels)
	return 0
}

func labelsMatch(got []*dto.LabelPair, want []string) bool {
	if len(got) != len(want)/2 {
		return false
	}
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, lp := range got {
			if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func createNamespace(ctx context.Context, name string, labels map[string]string) (*corev1.Namespace, error) {
	return admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
