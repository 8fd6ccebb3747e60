package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/orphansweep/orphans/internal/testenv"
)

func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	app := kingpin.New("test", "")
	var o Options
	o.AddFlags(app)
	_, err := app.Parse(args)
	return &o, err
}

func envOf(kv ...string) Env {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestValidateDefaults(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	c, err := o.Validate(envOf())
	if err != nil {
		t.Fatal(err)
	}
	if c.Enabled || c.DestructiveEnabled || c.Policy.Enabled || c.Policy.DestructiveEnabled {
		t.Fatal("a safety flag is on by default")
	}
	if c.Interval != 30*time.Second || c.Policy.Grace != time.Hour || c.Policy.Confirmations != 3 ||
		c.Policy.Prefix != "instant-customer-" || fmt.Sprint(c.Policy.ExcludePrefixes) != "[instant-customer-pool-]" ||
		fmt.Sprint(c.Policy.ReclaimTypes) != "[redis]" || c.MetricsNamespace != "instant" ||
		fmt.Sprint(c.Ledger.LiveStatuses) != "[pending active paused suspended]" || (*c.Web.WebListenAddresses)[0] != ":9866" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValidateSafetyFlags(t *testing.T) {
	o, _ := parse(t)
	for _, tc := range []struct {
		enabled, destructive string
		wantOn, wantDestr    bool
		wantWarning          bool
	}{
		{"true", "true", true, true, false},
		{"true", "false", true, false, false},
		{"false", "true", false, false, true},
		{"TRUE", "", false, false, true},
		{"1", "", false, false, true},
		{"yes", "", false, false, true},
		{" true", "", false, false, true},
		{"true", "True", true, false, true},
	} {
		c, err := o.Validate(envOf(EnvEnabled, tc.enabled, EnvDestructive, tc.destructive, EnvLedgerDSN, "postgres://x@127.0.0.1/db"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Enabled != tc.wantOn || c.Policy.DestructiveEnabled != tc.wantDestr || (len(c.Warnings) > 0) != tc.wantWarning {
			t.Errorf("%q/%q: enabled=%v destructive=%v warnings=%v", tc.enabled, tc.destructive, c.Enabled, c.Policy.DestructiveEnabled, c.Warnings)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	good := filepath.Join(dir, "dsn")
	_ = os.WriteFile(good, []byte("postgres://u@127.0.0.1/db\n"), 0o600)
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--sweep.interval=500ms"}, nil, "--sweep.interval"},
		{[]string{"--sweep.timeout=0s"}, nil, "--sweep.timeout"},
		{[]string{"--sweep.timeout=1m"}, nil, "--sweep.timeout"},
		{[]string{"--sweep.grace=-1s"}, nil, "--sweep.grace"},
		{[]string{"--sweep.confirmations=0"}, nil, "--sweep.confirmations"},
		{[]string{"--sweep.max-candidate-fraction=0"}, nil, "--sweep.max-candidate-fraction"},
		{[]string{"--sweep.max-candidate-fraction=1.5"}, nil, "--sweep.max-candidate-fraction"},
		{[]string{"--namespace.prefix="}, nil, "--namespace.prefix"},
		{[]string{"--namespace.prefix=Instant_"}, nil, "--namespace.prefix"},
		{[]string{"--namespace.exclude-prefix=ok-,Bad"}, nil, "--namespace.exclude-prefix"},
		{[]string{"--namespace.selector=a in ("}, nil, "--namespace.selector"},
		{[]string{"--ledger.live-statuses= , "}, nil, "--ledger.live-statuses"},
		{[]string{"--ledger.table="}, nil, "--ledger.table"},
		{[]string{"--ledger.token-column= "}, nil, "--ledger.token-column"},
		{[]string{"--ledger.query-timeout=20s"}, nil, "--ledger.query-timeout"},
		{[]string{"--ledger.max-conns=0"}, nil, "--ledger.max-conns"},
		{[]string{"--metrics.namespace=my-ns"}, nil, "--metrics.namespace"},
		{[]string{"--web.telemetry-path=metrics"}, nil, "--web.telemetry-path"},
		{[]string{"--web.telemetry-path=/candidates"}, nil, "--web.telemetry-path"},
		{[]string{"--kubernetes.timeout=0s"}, nil, "--kubernetes.timeout"},
		{nil, []string{EnvEnabled, "true"}, EnvLedgerDSN},
		{[]string{"--ledger.dsn-file=" + filepath.Join(dir, "missing")}, nil, "--ledger.dsn-file"},
		{[]string{"--ledger.dsn-file=" + empty}, nil, "--ledger.dsn-file"},
		{[]string{"--ledger.dsn-file=" + good}, []string{EnvLedgerDSN, "postgres://other@h/db"}, "--ledger.dsn-file"},
		{nil, []string{EnvLedgerDSN, "postgres://user:hunter2@host:notaport/db"}, "invalid ledger DSN"},
		{nil, []string{EnvLedgerDSN, "host=x port=99999999"}, "invalid ledger DSN"},
	} {
		o, err := parse(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		_, err = o.Validate(envOf(tc.env...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err = %v, want one naming %s", tc.args, tc.env, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error leaks the password or spans lines: %q", tc.args, err)
		}
	}
	o, _ := parse(t, "--ledger.dsn-file="+good)
	if c, err := o.Validate(envOf(EnvEnabled, "true")); err != nil || c.Ledger.DSN != "postgres://u@127.0.0.1/db" {
		t.Fatalf("DSN from file: %q, %v", c.Ledger.DSN, err)
	}
}

var exporterBin string

func buildExporter(t *testing.T) string {
	t.Helper()
	if exporterBin != "" {
		return exporterBin
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	exporterBin = filepath.Join(tmpDir, "orphans-exporter")
	cmd := exec.Command("go", "build", "-o", exporterBin, "./exporter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build exporter: %v\n%s", err, out)
	}
	return exporterBin
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
	cmd := exec.Command(bin, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
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
	for _, path := range []string{"/", "/metrics", "/readyz", "/candidates"} {
		resp, err := http.Get(url + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, err, resp)
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
