package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControlPlane is a real kube-apiserver with its etcd, RBAC authorization on,
// audit logging of every request to a file the tests can read, and no
// controller-manager (deleted namespaces stay Terminating).
type ControlPlane struct {
	// Admin is a system:masters client configuration.
	Admin *rest.Config
	// Env is the underlying envtest environment, for CRD installation and users.
	Env *envtest.Environment

	dir       string
	auditPath string
}

// ControlPlaneOptions tunes the control plane. The zero value is fine for tests.
type ControlPlaneOptions struct {
	// CRDDirectoryPaths are installed after start (e.g. Prometheus Operator CRDs).
	CRDDirectoryPaths []string
	// NoAudit turns the audit log off (benchmarks with large fleets).
	NoAudit bool
	// AuditUsers, when set, limits the audit log to requests by these users,
	// so a benchmark can count one client's requests without logging the
	// fleet it creates as admin.
	AuditUsers []string
	// Output receives the control plane's own logs; nil discards them.
	Output io.Writer
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// auditPolicyFor logs every request, or only those of users when given.
func auditPolicyFor(users []string) string {
	if len(users) == 0 {
		return auditPolicy
	}
	quoted, _ := json.Marshal(users)
	return `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ` + string(quoted) + `
- level: None
`
}

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS, or bin/k8s of this repository as built by hack/test-tools.sh.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin", "k8s")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make test-tools` (hack/test-tools.sh k8s) to build the test control plane", b, dir)
		}
	}
	return dir, nil
}

// RepoRoot finds this repository's root from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "versions.env")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (hack/versions.env) not found above the working directory")
		}
		dir = parent
	}
}

// StartControlPlane starts etcd and kube-apiserver on loopback.
func StartControlPlane(opts ControlPlaneOptions) (*ControlPlane, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "orphans-kube-")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{dir: dir}
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, err
	}
	// A fixed CertDir keeps certificates, client CA and port across
	// StopAPIServer/StartAPIServer, so clients survive an API server restart.
	api := &envtest.APIServer{CertDir: certDir, Out: opts.Output, Err: opts.Output}
	args := api.Configure()
	// An informer's watch lives for minutes; on stop, the API server would
	// wait out its 60s request timeout for it. Once in-flight requests have
	// drained, this closes open watches after 2s instead.
	args.Set("shutdown-send-retry-after", "true")
	if !opts.NoAudit {
		policy := filepath.Join(dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicyFor(opts.AuditUsers)), 0o600); err != nil {
			return nil, err
		}
		cp.auditPath = filepath.Join(dir, "audit.log")
		args.Set("audit-policy-file", policy)
		args.Set("audit-log-path", cp.auditPath)
		args.Set("audit-log-format", "json")
		args.Set("audit-log-mode", "blocking")
		args.Set("audit-log-maxbackup", "0")
		args.Set("audit-log-maxsize", "0")
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		UseExistingCluster:       ptr.To(false),
		CRDDirectoryPaths:        opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 3 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		ControlPlane: envtest.ControlPlane{
			APIServer: api,
			Etcd:      &envtest.Etcd{Out: opts.Output, Err: opts.Output},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	cp.Env, cp.Admin = env, cfg
	return cp, nil
}

// Stop stops the API server and etcd and removes their data.
func (c *ControlPlane) Stop() error {
	err := c.Env.Stop()
	_ = os.RemoveAll(c.dir)
	return err
}

// StopAPIServer stops only the API server (etcd keeps its data).
func (c *ControlPlane) StopAPIServer() error {
	return c.Env.ControlPlane.APIServer.Stop()
}

// StartAPIServer starts the API server again on the same address with the same
// certificates, and waits until it serves.
func (c *ControlPlane) StartAPIServer() error {
	return c.Env.ControlPlane.APIServer.Start()
}

// AddUser provisions a client-certificate user with the given groups.
func (c *ControlPlane) AddUser(name string, groups ...string) (*envtest.AuthenticatedUser, error) {
	return c.Env.AddUser(envtest.User{Name: name, Groups: groups}, c.Admin)
}

// WriteKubeconfig writes a kubeconfig for user to path.
func WriteKubeconfig(user *envtest.AuthenticatedUser, path string) error {
	b, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Clientset returns a typed client for the admin user.
func (c *ControlPlane) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.Admin)
}

// AuditEvent is the part of a Kubernetes audit event the tests look at.
type AuditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Stage string `json:"stage"`
	// Received is when the API server received the request.
	Received time.Time `json:"requestReceivedTimestamp"`
}

// AuditEvents returns the audit events so far for which keep returns true.
// Long-running requests (watches) appear once per stage they reach.
func (c *ControlPlane) AuditEvents(keep func(AuditEvent) bool) ([]AuditEvent, error) {
	if c.auditPath == "" {
		return nil, errors.New("audit log is off for this control plane")
	}
	f, err := os.Open(c.auditPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("audit log line: %w", err)
		}
		if keep == nil || keep(ev) {
			out = append(out, ev)
		}
	}
	return out, sc.Err()
}

// IsRequest is true for the one event that stands for a whole request: its
// completion, or for a watch its start.
func (e AuditEvent) IsRequest() bool {
	return e.Stage == "ResponseComplete" && e.Verb != "watch" || e.Stage == "ResponseStarted" || e.Stage == "Panic"
}

// RequestsBy counts the completed (or, for watches, started) requests made by username.
func (c *ControlPlane) RequestsBy(username string) (int, error) {
	evs, err := c.AuditEvents(func(e AuditEvent) bool {
		return e.User.Username == username && e.IsRequest()
	})
	return len(evs), err
}

// WaitFor polls cond every 50ms until it returns true, an error, or ctx ends.
func WaitFor(ctx context.Context, cond func() (bool, error)) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// ExporterRules are the exporter's permissions as deploy/base/clusterrole.yaml
// grants them: the namespace watch, and the list calls that read what
// candidates hold. Tests, the demo and the benchmark give them to the
// exporter's user; deploy's tests review the shipped manifest itself.
func ExporterRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "persistentvolumeclaims", "services", "configmaps", "serviceaccounts"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets", "deployments"}, Verbs: []string{"list"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: []string{"list"}},
	}
}
