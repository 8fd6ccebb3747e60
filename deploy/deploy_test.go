//go:build integration

package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/orphansweep/orphans/internal/testenv"
)

// The kustomizations a user can apply. Every one must render and be accepted
// by an API server.
var kustomizations = []string{
	"deploy/base",
	"deploy/overlays/detect",
	"deploy/overlays/reclaim",
	"deploy/overlays/auth",
	"deploy/prometheus",
	"deploy/grafana",
	"deploy/operator-events",
}

const systemNamespace = "orphans-system"

var (
	cpOnce sync.Once
	cp     *testenv.ControlPlane
	cpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		_ = cp.Stop()
	}
	if sharedImageDir != "" {
		_ = os.RemoveAll(sharedImageDir)
	}
	os.Exit(code)
}

// controlPlane starts one API server (with the Prometheus Operator CRDs) for
// the whole package; tests use distinct object names so they can share it.
func controlPlane(t *testing.T) *testenv.ControlPlane {
	t.Helper()
	cpOnce.Do(func() {
		var crds string
		crds, cpErr = prometheusOperatorCRDs()
		if cpErr != nil {
			return
		}
		cp, cpErr = testenv.StartControlPlane(testenv.ControlPlaneOptions{CRDDirectoryPaths: []string{crds}})
	})
	if cpErr != nil {
		t.Fatalf("control plane: %v", cpErr)
	}
	return cp
}

// prometheusOperatorCRDs locates the CRDs shipped in the Prometheus Operator
// module at the version pinned in hack/versions.env. `go mod download` reads
// the module cache (hack/test-tools.sh fills it) and checks the module's hash
// against the checksum database on first download.
func prometheusOperatorCRDs() (string, error) {
	version, err := pinnedVersion("PROMETHEUS_OPERATOR_VERSION")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator@"+version)
	// Outside any module, so the project's go.mod and go.sum are left alone.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download prometheus-operator@%s: %w\n%s%s", version, err, out, stderr.Bytes())
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("go mod download output: %w", err)
	}
	if mod.Error != "" {
		return "", fmt.Errorf("go mod download prometheus-operator@%s: %s", version, mod.Error)
	}
	dir := filepath.Join(mod.Dir, "example", "prometheus-operator-crd")
	if _, err := os.Stat(filepath.Join(dir, "monitoring.coreos.com_prometheusrules.yaml")); err != nil {
		return "", fmt.Errorf("prometheus-operator CRDs: %w", err)
	}
	return dir, nil
}

// pinnedVersion reads one KEY=value line of hack/versions.env.
func pinnedVersion(key string) (string, error) {
	f, err := os.Open(filepath.Join(repoRoot(), "hack", "versions.env"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), key+"="); ok {
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s not set in hack/versions.env", key)
}

func binDir() string { return filepath.Join(repoRoot(), "bin") }

// tool returns the path of a test binary built by hack/test-tools.sh.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(binDir(), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not built: run `make test-tools` (%v)", name, err)
	}
	return p
}

func kubectl(t *testing.T) string {
	t.Helper()
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	return p
}

// run executes a command and returns stdout; stderr is returned separately so
// tests can inspect warnings.
func run(ctx context.Context, dir string, env []string, stdin io.Reader, name string, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, e.Bytes())
	}
	return o.Bytes(), e.Bytes(), err
}

var (
	renderMu    sync.Mutex
	renderCache = map[string][]byte{}
)

// render runs `kubectl kustomize` on a directory relative to the repository
// root, the way an operator would before applying it.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if out, ok := renderCache[dir]; ok {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := run(ctx, repoRoot(), nil, nil, kubectl(t), "kustomize", dir)
	if err != nil {
		t.Fatal(err)
	}
	renderCache[dir] = out
	return out
}

// objects decodes a multi-document YAML stream.
func objects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode rendered YAML: %v", err)
		}
		if m == nil {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

func renderedObjects(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	return objects(t, render(t, dir))
}

// find returns the one object of a kind and name, failing the test otherwise.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if found != nil {
				t.Fatalf("%s/%s rendered twice", kind, name)
			}
			found = o
		}
	}
	if found == nil {
		t.Fatalf("%s/%s not rendered", kind, name)
	}
	return found
}

// toYAMLStream encodes objects as a JSON stream, which kubectl reads like YAML.
func toStream(t *testing.T, objs ...*unstructured.Unstructured) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		j, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// adminKubeconfig writes a system:masters kubeconfig for kubectl.
func adminKubeconfig(t *testing.T, cp *testenv.ControlPlane) string {
	t.Helper()
	u, err := cp.AddUser("deploy-test-admin", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := testenv.WriteKubeconfig(u, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyForReal applies objects to the API server (not a dry run), the way
// `kubectl apply -k` would.
func applyForReal(t *testing.T, kubeconfig string, objs ...*unstructured.Unstructured) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := run(ctx, repoRoot(), nil, bytes.NewReader(toStream(t, objs...)), kubectl(t),
		"apply", "--kubeconfig", kubeconfig, "-f", "-"); err != nil {
		t.Fatal(err)
	}
}
