//go:build integration

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

// Ctrl-C on `make demo` reaches the demo and every process of the
// terminal's foreground group at once, etcd and kube-apiserver among them.
// Whenever it comes, once the demo is ready or while its control plane
// starts, the demo then stops every process it started and removes every
// folder it made, within seconds.
func TestDemoCtrlCLeavesNothing(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	demo := filepath.Join(t.TempDir(), "orphans-demo")
	if out, err := exec.Command("go", "build", "-C", root, "-o", demo, "./hack/demo").CombinedOutput(); err != nil {
		t.Fatalf("go build ./hack/demo: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		// at is the line of the demo's output after which Ctrl-C comes,
		// and wait how long after it.
		at   string
		wait time.Duration
		// running are the processes that must be running then.
		running []string
	}{
		{"ready", "Press Ctrl-C", 0, []string{"etcd", "kube-apiserver", "orphans-exporte", "postgres"}},
		{"starting the control plane", "==> starting a local control plane", 2 * time.Second, []string{"etcd", "postgres"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			interruptDemo(t, root, demo, tc.at, tc.wait, tc.running)
		})
	}
}

func interruptDemo(t *testing.T, root, demo, at string, wait time.Duration, running []string) {
	// The demo's folders go here, so that what it leaves behind is seen.
	// PostgreSQL runs as its own user and must reach its folder.
	tmp, err := os.MkdirTemp("", "orphans-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(demo, "--bin", bed.binDir, "--grace", "5s", "--port", strconv.Itoa(port))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	// A group of its own, as a shell gives a foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	reached := make(chan struct{})
	var out testenv.SyncBuffer
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(&out, sc.Text())
			if strings.HasPrefix(sc.Text(), at) {
				close(reached)
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	select {
	case <-reached:
	case err := <-exited:
		t.Fatalf("the demo ended before %q: %v\n%s\n%s", at, err, out.String(), stderr.String())
	case <-time.After(5 * time.Minute):
		t.Fatalf("no %q from the demo in 5 minutes:\n%s\n%s", at, out.String(), stderr.String())
	}
	time.Sleep(wait)
	started := descendants(cmd.Process.Pid)
	names := map[string]bool{}
	for _, p := range started {
		names[p.comm] = true
	}
	for _, want := range running {
		if !names[want] {
			t.Fatalf("the demo runs no %s process (it runs %v)", want, names)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) == 0 {
		t.Fatalf("the running demo made no folder under TMPDIR %s", tmp)
	}

	// Ctrl-C: SIGINT to the whole foreground group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Within seconds: nothing the demo started holds on to its shutdown.
	interrupted := time.Now()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		t.Logf("the demo ended %s after Ctrl-C", time.Since(interrupted).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatalf("the demo still runs 15s after Ctrl-C:\n%s", stderr.String())
	}
	for _, p := range started {
		if p.alive() {
			t.Errorf("%s (pid %d), started by the demo, still runs after it ended", p.comm, p.pid)
		}
	}
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		var left []string
		for _, e := range entries {
			left = append(left, e.Name())
		}
		t.Errorf("the demo left %v in TMPDIR (%v)", left, err)
	}
}

// proc is one process, told apart from a later one with its pid by its
// start time.
type proc struct {
	pid, ppid int
	comm      string
	start     string
}

func readProc(pid int) (proc, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, false
	}
	_, rest, ok := strings.Cut(string(stat), " (")
	comm, rest, ok2 := strings.Cut(rest, ") ")
	fields := strings.Fields(rest) // state ppid pgrp … starttime is the 20th
	if !ok || !ok2 || len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	return proc{pid: pid, ppid: ppid, comm: comm, start: fields[19]}, true
}

// alive says whether the same process still runs (a zombie does not).
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start
}

// descendants lists every running process below pid.
func descendants(pid int) []proc {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]proc{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(n); ok {
			children[p.ppid] = append(children[p.ppid], p)
		}
	}
	var all []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			all = append(all, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return all
}
