//go:build integration

package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

func buildExporter(t *testing.T) string {
	t.Helper()
	b, err := testenv.Build()
	if err != nil {
		t.Fatal(err)
	}
	return b.Exporter
}

func TestBinaryRejectsBadConfigInOneLine(t *testing.T) {
	bin := buildExporter(t)
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--sweep.interval=0s"}, nil, "--sweep.interval"},
		{[]string{"--sweep.interval=soon"}, nil, "sweep.interval"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"--namespace.selector=a in ("}, nil, "--namespace.selector"},
		{nil, []string{EnvEnabled + "=true"}, EnvLedgerDSN},
		{nil, []string{EnvLedgerDSN + "=postgres://u:hunter2@h:x/db"}, "invalid ledger DSN"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), tc.env...)
		var stderr, stdout bytes.Buffer
		cmd.Stderr, cmd.Stdout = &stderr, &stdout
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%v: err %v, want a non-zero exit", tc.args, err)
			continue
		}
		out := strings.TrimSpace(stderr.String())
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) || strings.Contains(out, "hunter2") {
			t.Errorf("%v %v: stderr %q, want one line naming %s", tc.args, tc.env, out, tc.want)
		}
	}
}

func TestBinaryShutsDownOnSIGTERM(t *testing.T) {
	bin := buildExporter(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), fmt.Sprintf("--api.listen-address=127.0.0.1:%d", apiPort))
	cmd.Env = append(os.Environ(), EnvEnabled+"=false")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := testenv.WaitFor(ctx, func() (bool, error) {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("exporter did not serve: %v\n%s", err, logs.String())
	}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	for _, u := range []string{url + "/", url + "/metrics", url + "/livez", url + "/readyz", apiURL + "/", apiURL + "/candidates", apiURL + "/ghosts"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", u, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("exporter did not stop within 15s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "exporter.stopping") {
		t.Errorf("no exporter.stopping line:\n%s", logs.String())
	}
}
