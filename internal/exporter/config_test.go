package exporter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
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
	if c.Enabled || c.Destructive || c.Policy.Enabled || c.Policy.Destructive {
		t.Fatal("a safety flag is on by default")
	}
	if c.Interval != 30*time.Second || c.Policy.Grace != time.Hour || c.Policy.Confirmations != 3 ||
		c.Policy.Prefix != "instant-customer-" || fmt.Sprint(c.Policy.ExcludePrefixes) != "[instant-customer-pool-]" ||
		fmt.Sprint(c.Policy.ReclaimTypes) != "[redis]" || c.MetricsNamespace != "instant" ||
		fmt.Sprint(c.Policy.LiveStatuses) != "[pending active paused suspended]" ||
		fmt.Sprint(c.Policy.TerminalStatuses) != "[deleted expired failed reaped]" || c.Policy.MinEvidenceAge != 24*time.Hour ||
		c.Timeout != 10*time.Second || c.Ledger.QueryTimeout != 5*time.Second || c.MaxReplicaLag != 10*time.Second ||
		c.FreshLedger.MaxConns != FreshChecks || (*c.Web.Metrics.WebListenAddresses)[0] != ":9866" ||
		(*c.Web.API.WebListenAddresses)[0] != ":9867" || c.Web.TelemetryPath != "/metrics" || c.Web.KubernetesAuth {
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
		if c.Enabled != tc.wantOn || c.Destructive != tc.wantDestr || c.Policy.Destructive != tc.wantDestr || (len(c.Warnings) > 0) != tc.wantWarning {
			t.Errorf("%q/%q: enabled=%v destructive=%v warnings=%v", tc.enabled, tc.destructive, c.Enabled, c.Destructive, c.Warnings)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	badWeb := filepath.Join(dir, "web.yml")
	_ = os.WriteFile(badWeb, []byte("basic_auth_users: [\n"), 0o600)
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
		{[]string{"--ledger.terminal-statuses="}, nil, "--ledger.terminal-statuses"},
		{[]string{"--ledger.terminal-statuses=deleted,active"}, nil, "--ledger.live-statuses"},
		{[]string{"--ledger.live-statuses=active,Deleted", "--ledger.terminal-statuses=Deleted"}, nil, "--ledger.terminal-statuses"},
		{[]string{"--reclaim.min-evidence-age=-1s"}, nil, "--reclaim.min-evidence-age"},
		{[]string{"--ledger.max-replica-lag=0s"}, nil, "--ledger.max-replica-lag"},
		{[]string{"--sweep.interval=2s", "--sweep.timeout=5s"}, nil, "--sweep.interval"},
		{[]string{"--sweep.interval=2s", "--ledger.query-timeout=3s"}, nil, "--sweep.timeout"},
		{nil, []string{EnvLedgerDSN, "postgres://u@ledger.example/db?sslmode=require"}, "verify-full"},
		{[]string{"--ledger.fresh-dsn=postgres://u:hunter2@127.0.0.1/db"}, nil, "--ledger.fresh-dsn"},
		{[]string{"--ledger.fresh-dsn=postgres://u@127.0.0.1/db"}, []string{EnvLedgerFreshDSN, "postgres://u@127.0.0.1/db"}, "--ledger.fresh-dsn"},
		{[]string{"--ledger.fresh-dsn=postgres://u@ledger.example/db"}, nil, "fresh-check ledger DSN"},
		{[]string{"--ledger.table="}, nil, "--ledger.table"},
		{[]string{"--ledger.table=ledger.resources"}, nil, "--ledger.schema"},
		{[]string{"--ledger.schema= "}, nil, "--ledger.schema"},
		{[]string{"--ledger.terminated-at-column=created_at"}, nil, "--ledger.terminated-at-column"},
		{[]string{"--ledger.terminated-at-column=ts", "--ledger.created-column=ts"}, nil, "--ledger.created-column"},
		{[]string{"--ledger.max-receiver-silence=0s"}, nil, "--ledger.max-receiver-silence"},
		{[]string{"--ledger.token-column= "}, nil, "--ledger.token-column"},
		{[]string{"--ledger.query-timeout=20s"}, nil, "--ledger.query-timeout"},
		{[]string{"--ledger.max-conns=0"}, nil, "--ledger.max-conns"},
		{[]string{"--metrics.namespace=my-ns"}, nil, "--metrics.namespace"},
		{[]string{"--web.telemetry-path=metrics"}, nil, "--web.telemetry-path"},
		{[]string{"--web.telemetry-path=/candidates"}, nil, "--web.telemetry-path"},
		{[]string{"--web.telemetry-path=/ghosts"}, nil, "--web.telemetry-path"},
		{[]string{"--web.telemetry-path=/livez"}, nil, "--web.telemetry-path"},
		{[]string{"--web.telemetry-path=/candidates/x"}, nil, "--web.telemetry-path"},
		{[]string{"--web.systemd-socket"}, nil, "--web.systemd-socket"},
		{[]string{"--api.listen-address=:9866"}, nil, "--api.listen-address"},
		{[]string{"--web.listen-address=127.0.0.1:9000", "--api.listen-address=0.0.0.0:9000"}, nil, "--api.listen-address"},
		{[]string{"--web.listen-address=[::]:9000", "--api.listen-address=127.0.0.1:9000"}, nil, "--api.listen-address"},
		{[]string{"--api.listen-address=9867"}, nil, "--api.listen-address"},
		{[]string{"--api.web-config.file=" + filepath.Join(dir, "missing.yml")}, nil, "--api.web-config.file"},
		{[]string{"--web.config.file=" + badWeb}, nil, "--web.config.file"},
		{[]string{"--kubernetes.timeout=0s"}, nil, "--kubernetes.timeout"},
		{[]string{"--kubernetes.qps=0"}, nil, "--kubernetes.qps"},
		{[]string{"--kubernetes.burst=0"}, nil, "--kubernetes.burst"},
		{[]string{"--contents.interval=-1s"}, nil, "--contents.interval"},
		{[]string{"--contents.qps=0"}, nil, "--contents.qps"},
		{[]string{"--contents.concurrency=65"}, nil, "--contents.concurrency"},
		{[]string{"--contents.budget=0"}, nil, "--contents.budget"},
		{[]string{"--contents.extra-resources=widgets"}, nil, "--contents.extra-resources"},
		{[]string{"--reclaim.quiet-period=-1s"}, nil, "--reclaim.quiet-period"},
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

// Two listeners may share a port number on different hosts, and ports
// chosen by the kernel never collide.
func TestListenersApart(t *testing.T) {
	for _, args := range [][]string{
		{"--web.listen-address=127.0.0.1:9000", "--api.listen-address=127.0.0.2:9000"},
		{"--web.listen-address=127.0.0.1:0", "--api.listen-address=127.0.0.1:0"},
		{"--web.listen-address=:9866", "--web.listen-address=:9868", "--api.listen-address=:9867"},
	} {
		o, err := parse(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Validate(envOf()); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	o, err := parse(t, "--web.auth=basic")
	if err == nil {
		t.Fatalf("--web.auth=basic accepted: %+v", o.Web)
	}
	if o, err = parse(t, "--web.auth=kubernetes"); err != nil {
		t.Fatal(err)
	}
	if c, err := o.Validate(envOf()); err != nil || !c.Web.KubernetesAuth {
		t.Fatalf("--web.auth=kubernetes: %v %+v", err, c.Web)
	}
}

func TestDefaultsCompose(t *testing.T) {
	for _, tc := range []struct {
		args                 []string
		timeout, queryTimout time.Duration
	}{
		{[]string{"--sweep.interval=2s"}, 2 * time.Second, 2 * time.Second},
		{[]string{"--sweep.interval=8s"}, 8 * time.Second, 5 * time.Second},
		{[]string{"--sweep.interval=1m"}, 10 * time.Second, 5 * time.Second},
		{[]string{"--sweep.interval=1m", "--sweep.timeout=3s"}, 3 * time.Second, 3 * time.Second},
		{[]string{"--sweep.interval=2s", "--ledger.query-timeout=1s"}, 2 * time.Second, time.Second},
	} {
		o, err := parse(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := o.Validate(envOf())
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if c.Timeout != tc.timeout || c.Ledger.QueryTimeout != tc.queryTimout || c.FreshLedger.QueryTimeout != tc.queryTimout {
			t.Errorf("%v: sweep timeout %s, query timeout %s; want %s and %s", tc.args, c.Timeout, c.Ledger.QueryTimeout, tc.timeout, tc.queryTimout)
		}
	}
}

func TestInsecureLedgerTransportNeedsTheFlag(t *testing.T) {
	remote := "postgres://u@ledger.example/db?sslmode=require"
	o, _ := parse(t, "--ledger.allow-insecure-transport")
	c, err := o.Validate(envOf(EnvLedgerDSN, remote))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "ledger.example") {
		t.Fatalf("warnings %q, want one naming the host", c.Warnings)
	}
	o, _ = parse(t)
	if c, err := o.Validate(envOf(EnvLedgerDSN, "postgres://u@ledger.example/db?sslmode=verify-full")); err != nil || len(c.Warnings) != 0 {
		t.Fatalf("verify-full: %v %q", err, c.Warnings)
	}
	if c, err := o.Validate(envOf(EnvLedgerDSN, "postgres://u@127.0.0.1/db", EnvLedgerFreshDSN, "postgres://u@primary.example/db?sslmode=verify-full")); err != nil || c.FreshLedger.DSN == c.Ledger.DSN {
		t.Fatalf("fresh DSN from the environment: %v %+v", err, c.FreshLedger)
	}
}
