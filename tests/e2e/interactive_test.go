//go:build integration

package e2e

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/deprovision/deprovisiontest"
	"github.com/orphansweep/orphans/internal/plugin"
	"github.com/orphansweep/orphans/internal/testenv"
)

// Ctrl-C reaches the plugin as it reaches any foreground job: SIGINT to the
// process group. The request in flight is abandoned (uncertain: it went
// out) and no later target is attempted.
func TestReclaimCtrlCStopsTheRun(t *testing.T) {
	b := newReclaimBed(t, true)
	slow, _ := b.redisOrphan()
	next, _ := b.redisOrphan()
	b.dp.Respond(slow, deprovisiontest.Response{Delay: 30 * time.Second})
	b.waitListed(true, slow, next)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, "", nil, bed.kubectl, append([]string{"orphans", "reclaim", slow, next, "--exporter-url=" + b.e.URL,
		"--kubeconfig=" + bed.kubeconfig[operator], "--deprovision-url=" + b.dp.URL, "--deprovision-token-file=" + b.tokenFile,
		"--reason=" + reason, "--yes"}, lowFloors...)...)
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
	if !strings.Contains(r.stdout, "uncertain") || !strings.Contains(r.stdout, "not-attempted") || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("want the request in flight uncertain, the next target not attempted and the run reported interrupted:\n%s", r)
	}
	if n := b.dp.Arrived(next); n != 0 {
		t.Fatalf("a target after Ctrl-C was sent %d times", n)
	}
}

// On a terminal the operator must type the current kube context's name.
func TestReclaimAsksForTheContextOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("needs script(1) from util-linux to give the plugin a terminal")
	}
	b := newReclaimBed(t, true)
	a1, _ := b.redisOrphan()
	a2, tok2 := b.redisOrphan()
	b.waitListed(true, a1, a2)
	line := strings.Join(append([]string{"kubectl", "orphans", "reclaim", a1, a2, "--exporter-url=" + b.e.URL,
		"--kubeconfig=" + bed.kubeconfig[operator], "--deprovision-url=" + b.dp.URL,
		"--deprovision-token-file=" + b.tokenFile, "'--reason=" + reason + "'"}, lowFloors...), " ")
	const prompt = `for kube context "envtest". Type the context's name to proceed: `
	// typed runs the command on a terminal, waits for the prompt, calls
	// meanwhile (if set), then types input.
	typed := func(input string, meanwhile func()) result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pr, pw := io.Pipe()
		// script runs the command on a new pseudo-terminal and types our stdin into it.
		cmd := command(ctx, "", nil, "script", "-qec", line, "/dev/null")
		cmd.Stdin = pr
		out := &testenv.SyncBuffer{}
		var errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		if err := testenv.WaitFor(wctx, func() (bool, error) { return strings.Contains(out.String(), prompt), nil }); err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("no prompt: %v\n%s", err, out.String())
		}
		if meanwhile != nil {
			meanwhile()
		}
		_, _ = io.WriteString(pw, input)
		// Wait returns only once its copy of our stdin ends.
		pw.Close()
		return exitResult(t, cmd.Wait(), out.String(), errOut.String(), nil)
	}

	r := typed("2\n", nil)
	if r.code == 0 || !strings.Contains(r.stdout, `aborted: you typed "2", not the context's name "envtest"; nothing was sent`) {
		t.Fatalf("the count instead of the context:\n%s", r)
	}
	if n := len(b.dp.Requests()); n != 0 {
		t.Fatalf("an aborted run sent %d requests", n)
	}

	// While the operator reads the plan, a2's ledger rows change: what was
	// shown is not what would be sent, so a2 is skipped as changed.
	r = typed("envtest\n", func() {
		before := byNamespace(b.e.waitCandidates(t, "a2 listed", func(int, api.Candidates) bool { return true }))[a2].EvidenceDigest
		b.rows(testenv.Row{Token: tok2, Status: "expired", ResourceType: "redis"})
		b.e.waitCandidates(t, "a2 reclaimable on new evidence", func(code int, doc api.Candidates) bool {
			c := byNamespace(doc)[a2]
			return code == 200 && c.Reclaimable && c.EvidenceDigest != before
		})
	})
	if r.code != 0 || !strings.Contains(r.stdout, "1 reclaimed, 1 skipped.") || !strings.Contains(r.stdout, plugin.WhyChanged) {
		t.Fatalf("typed the context's name:\n%s", r)
	}
	if len(b.requestsFor(a1)) != 1 || len(b.requestsFor(a2)) != 0 {
		t.Fatalf("requests %+v", b.dp.Requests())
	}
	mustNotContain(t, "the terminal", []string{r.stdout}, b.secret)
}
