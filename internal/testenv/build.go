package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// TestVersion is the version stamped into the binaries the tests build;
// `kubectl orphans version` and build_info must report it.
const TestVersion = "9.8.7-e2e"

// Binaries are this repository's programs, built for the tests.
type Binaries struct {
	// Dir holds all of them, so it can be put on PATH for kubectl's
	// plugin discovery.
	Dir      string
	Exporter string
	Plugin   string
}

var (
	binOnce sync.Once
	bins    Binaries
	binErr  error
)

// Build builds orphans-exporter and kubectl-orphans (with the
// kubectl_complete-orphans shim beside it), stamped with TestVersion, into
// .cache/testbin of the repository. Every test package of one `make test`
// calls it; a file lock keeps them from writing the same file at once, and
// the Go build cache makes every build after the first one a quick check.
// Callers must not modify the files.
func Build() (Binaries, error) {
	binOnce.Do(func() { bins, binErr = build() })
	return bins, binErr
}

func build() (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	dir := filepath.Join(root, ".cache", "testbin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return Binaries{}, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return Binaries{}, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()

	const vpkg = "github.com/prometheus/common/version"
	ldflags := fmt.Sprintf("-X %s.Version=%s -X %s.Revision=test -X %s.Branch=test", vpkg, TestVersion, vpkg, vpkg)
	b := Binaries{Dir: dir, Exporter: filepath.Join(dir, "orphans-exporter"), Plugin: filepath.Join(dir, "kubectl-orphans")}
	for _, t := range []struct{ out, pkg string }{{b.Exporter, "./exporter"}, {b.Plugin, "./plugin"}} {
		cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", t.out, t.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	shim, err := os.ReadFile(filepath.Join(root, "plugin", "kubectl_complete-orphans"))
	if err != nil {
		return Binaries{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl_complete-orphans"), shim, 0o755); err != nil {
		return Binaries{}, err
	}
	return b, nil
}
