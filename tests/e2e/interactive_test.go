//go:build integration

package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
	"github.com/orphansweep/orphans/internal/testenv"
)

// Ctrl-C reaches the plugin as it reaches any foreground job: SIGINT to the
// process group. The request in flight is abandoned and no later target is
// attempted.
func TestReclaimCtrlCStopsTheRun(t *testing.T) {
	b := newReclaimBed(t, true)
	slow, _ := b.redisOrphan()
	next, _ := b.redisOrphan()
	b.dp.Respond(slow, deprovisiontest.Response{Delay: 30 * time.Second})
	b.waitListed(true, slow, next)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, "", nil, bed.kubectl, "orphans", "reclaim", slow, next, "--exporter-url="+b.e.URL,
		"--kubeconfig="+bed.kubeconfig[operator], "--deprovision-url="+b.dp.URL, "--deprovision-token-file="+b.tokenFile,
		"--reason="+reason, "--yes")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := testenv.WaitFor(wctx, func() (bool, error) { return b.dp.Arrived(slow) == 1, nil }); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the first request never arrived: %v\n%s%s", err, out.String(), errOut.String())
	}
	sent := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("Ctrl-C did not stop the run\n%s%s", out.String(), errOut.String())
	}
	r := exitResult(t, err, out.String(), errOut.String(), nil)
	if r.code == 0 || time.Since(sent) > 10*time.Second {
		t.Fatalf("after Ctrl-C (%s):\n%s", time.Since(sent), r)
	}
	if !strings.Contains(r.stdout, "not-attempted") || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("want the next target not attempted and the run reported interrupted:\n%s", r)
	}
	if n := b.dp.Arrived(next); n != 0 {
		t.Fatalf("a target after Ctrl-C was sent %d times", n)
	}
}

// On a terminal the operator must type the number of targets.
func TestReclaimAsksForTheCountOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("needs script(1) from util-linux to give the plugin a terminal")
	}
	b := newReclaimBed(t, true)
	a1, _ := b.redisOrphan()
	a2, _ := b.redisOrphan()
	b.waitListed(true, a1, a2)
	line := strings.Join([]string{"kubectl", "orphans", "reclaim", a1, a2, "--exporter-url=" + b.e.URL,
		"--kubeconfig=" + bed.kubeconfig[operator], "--deprovision-url=" + b.dp.URL,
		"--deprovision-token-file=" + b.tokenFile, "'--reason=" + reason + "'"}, " ")
	typed := func(input string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// script runs the command on a new pseudo-terminal and types our stdin into it.
		cmd := command(ctx, input, nil, "script", "-qec", line, "/dev/null")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		return exitResult(t, cmd.Run(), out.String(), errOut.String(), nil)
	}

	r := typed("yes\n")
	if r.code == 0 || !strings.Contains(r.stdout, "Type 2 to proceed") || !strings.Contains(r.stdout, `aborted: you typed "yes", not 2; nothing was sent`) {
		t.Fatalf("wrong answer:\n%s", r)
	}
	if n := len(b.dp.Requests()); n != 0 {
		t.Fatalf("an aborted run sent %d requests", n)
	}
	r = typed("2\n")
	if r.code != 0 || !strings.Contains(r.stdout, "2 reclaimed.") {
		t.Fatalf("typed the count:\n%s", r)
	}
	if n := len(b.dp.Requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	mustNotContain(t, "the terminal", []string{r.stdout}, b.secret)
}
