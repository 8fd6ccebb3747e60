//go:build integration

package testenv

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A child started from a goroutine whose thread then ends must live on.
func TestStartProcessSurvivesTheCallersThread(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		started <- StartProcess(cmd)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	select {
	case err := <-exited:
		t.Fatalf("child died with its caller's thread: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}
