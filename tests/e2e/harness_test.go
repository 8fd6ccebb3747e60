//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

const (
	prefix = "instant-customer-"
	// testLabel keeps each test's namespaces apart: every exporter a test
	// starts selects only its own.
	testLabel = "orphans-e2e/test"
)

var dbSeq atomic.Int32

// scope is one test's slice of the bed: a label value, a ledger database.
type scope struct {
	t     *testing.T
	label string
	dsn   string
}

func newScope(t *testing.T) *scope {
	t.Helper()
	n := dbSeq.Add(1)
	label := fmt.Sprintf("t%d-%s", n, strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")))
	if len(label) > 63 {
		label = label[:63]
	}
	label = strings.TrimRight(label, "-")
	dsn, err := bed.pg.CreateLedger(context.Background(), fmt.Sprintf("ledger_%d", n))
	if err != nil {
		t.Fatal(err)
	}
	return &scope{t: t, label: label, dsn: dsn}
}

// tenant creates a tenant namespace in the scope and returns its name and token.
func (s *scope) tenant() (ns, token string) {
	s.t.Helper()
	token = uuid.NewString()
	ns = prefix + token
	_, err := bed.admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{testLabel: s.label}},
	}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return ns, token
}

// rows appends ledger rows.
func (s *scope) rows(rows ...testenv.Row) {
	s.t.Helper()
	if err := testenv.InsertRows(context.Background(), s.dsn, rows); err != nil {
		s.t.Fatal(err)
	}
}

type exporterOptions struct {
	enabled, destructive bool
	// netns, when set, runs the exporter inside it, listening on its address.
	netns *netns
	// webConfig, when set, is the exporter's --api.web-config.file; the test
	// reaches the API with client (https) and basic auth user:password.
	webConfig      string
	client         *http.Client
	user, password string
	// args are more flags for the exporter.
	args []string
}

// lowFloors lower every floor of the plugin's own. The test bed's exporter
// makes a namespace reclaimable within seconds, far below the plugin's
// defaults (TestReclaimAtDefaultFloorsSendsNothing), so every run meant to
// reach the platform passes them.
var lowFloors = []string{"--min-evidence-age=0s", "--quiet-period=0s", "--min-confirmations=1", "--min-namespace-age=0s"}

// exporter is a running orphans-exporter subprocess.
type exporter struct {
	// URL is the API listener's, which the plugin reads; metricsURL serves
	// the metrics and probes, always over plain http.
	URL, metricsURL string
	log             *testenv.SyncBuffer

	client         *http.Client
	user, password string
}

// startExporter runs the real exporter for the scope and waits until it is ready.
func (s *scope) startExporter(o exporterOptions) *exporter {
	t := s.t
	t.Helper()
	host := "127.0.0.1"
	if o.netns != nil {
		host = o.netns.nsIP
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr, apiAddr := fmt.Sprintf("%s:%d", host, port), fmt.Sprintf("%s:%d", host, apiPort)
	args := []string{
		"--web.listen-address=" + addr,
		"--api.listen-address=" + apiAddr,
		"--kubeconfig=" + bed.kubeconfig[exporterUser],
		// Timeouts leave room for a machine busy with other test binaries: a
		// sweep that times out would turn a listing test into a failed-sweep one.
		"--sweep.interval=2s", "--sweep.timeout=2s", "--ledger.query-timeout=2s",
		"--sweep.grace=0s", "--sweep.confirmations=1", "--sweep.max-candidate-fraction=1",
		"--namespace.selector=" + testLabel + "=" + s.label,
		"--log.level=debug",
	}
	if o.destructive {
		// Evidence must otherwise be a day old before it is reclaimable.
		args = append(args, "--reclaim.min-evidence-age=0s", "--reclaim.quiet-period=0s")
	}
	args = append(args, o.args...)
	scheme := "http"
	if o.webConfig != "" {
		args = append(args, "--api.web-config.file="+o.webConfig)
		scheme = "https"
	}
	var cmd *exec.Cmd
	if o.netns != nil {
		cmd = exec.Command("ip", append([]string{"netns", "exec", o.netns.name, bed.exporterBin}, args...)...)
	} else {
		cmd = exec.Command(bed.exporterBin, args...)
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ORPHANS_LEDGER_DSN=" + s.dsn}
	if o.enabled {
		cmd.Env = append(cmd.Env, "ORPHAN_DB_SWEEP_ENABLED=true")
	}
	if o.destructive {
		cmd.Env = append(cmd.Env, "ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED=true")
	}
	e := &exporter{URL: scheme + "://" + apiAddr, metricsURL: "http://" + addr, log: &testenv.SyncBuffer{}, client: o.client, user: o.user, password: o.password}
	if e.client == nil {
		e.client = &http.Client{}
	}
	e.client.Timeout = 5 * time.Second
	cmd.Stdout, cmd.Stderr = e.log, e.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.StartProcess(cmd); err != nil {
		t.Fatalf("start exporter: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.log.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = testenv.WaitFor(ctx, func() (bool, error) {
		select {
		case <-exited:
			return false, errors.New("exporter exited")
		default:
		}
		code, _, err := e.get("/readyz")
		return err == nil && code == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("exporter not ready: %v\n%s", err, e.log.String())
	}
	return e
}

// get is the test's own GET, to watch the exporter's state, on the
// listener that serves path.
func (e *exporter) get(path string) (int, []byte, error) {
	base, api := e.metricsURL, path == "/candidates" || strings.HasPrefix(path, "/candidates/") || path == "/ghosts"
	if api {
		base = e.URL
	}
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if api && e.user != "" {
		req.SetBasicAuth(e.user, e.password)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// waitCandidates waits until the exporter's /candidates satisfies ok.
func (e *exporter) waitCandidates(t *testing.T, what string, ok func(code int, doc api.Candidates) bool) api.Candidates {
	t.Helper()
	var doc api.Candidates
	var last string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := testenv.WaitFor(ctx, func() (bool, error) {
		code, b, err := e.get("/candidates")
		if err != nil {
			return false, nil
		}
		last = string(b)
		doc = api.Candidates{}
		_ = json.Unmarshal(b, &doc)
		return ok(code, doc), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v\nlast /candidates: %s\nexporter log:\n%s", what, err, last, e.log.String())
	}
	return doc
}

// byNamespace indexes a document's candidates.
func byNamespace(doc api.Candidates) map[string]api.Candidate {
	m := map[string]api.Candidate{}
	for _, c := range doc.Candidates {
		m[c.Namespace] = c
	}
	return m
}

// result is what one `kubectl orphans …` run did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// kubectl runs the real kubectl, which finds kubectl-orphans on PATH.
// extraEnv adds variables; stdin is a pipe, never a terminal.
func kubectl(t *testing.T, stdin string, extraEnv []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, stdin, extraEnv, bed.kubectl, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return exitResult(t, err, out.String(), errOut.String(), args)
}

// command prepares name with the operator's environment: the plugin's
// directory first on PATH, no inherited kubeconfig or orphans settings.
func command(ctx context.Context, stdin string, extraEnv []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "ORPHANS_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "PATH="+bed.binDir+string(os.PathListSeparator)+filepath.Dir(bed.kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

func exitResult(t *testing.T, err error, stdout, stderr string, args []string) result {
	t.Helper()
	r := result{stdout: stdout, stderr: stderr}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// orphans runs `kubectl orphans ARGS --kubeconfig <user's>`.
func orphans(t *testing.T, user string, extraEnv []string, args ...string) result {
	t.Helper()
	return kubectl(t, "", extraEnv, append(append([]string{"orphans"}, args...), "--kubeconfig="+bed.kubeconfig[user])...)
}

// mustNotContain fails when any of the texts shows any of the secrets.
func mustNotContain(t *testing.T, what string, texts []string, secrets ...string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Fatalf("%s shows %q:\n%s", what, s, text)
			}
		}
	}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func itoa(n int) string { return strconv.Itoa(n) }
