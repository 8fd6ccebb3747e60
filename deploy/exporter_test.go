//go:build integration

package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

const exporterSA = "system:serviceaccount:" + systemNamespace + ":orphans-exporter"

// Tenants of the exporter run: one live, one terminal redis, one without a row,
// and a pool namespace the default exclusion keeps out of scope.
const (
	tokenLive     = "6f1f0a52-7a3e-4c39-9d0e-5b1d2f000001"
	tokenTerminal = "6f1f0a52-7a3e-4c39-9d0e-5b1d2f000002"
	tokenNoRow    = "6f1f0a52-7a3e-4c39-9d0e-5b1d2f000003"
	poolNamespace = "instant-customer-pool-6f1f0a52"
)

// exporterRun is what one run of the real exporter, under the rendered
// ServiceAccount's token, showed.
type exporterRun struct {
	candidates  api.Candidates
	metricsText string
	metricNames map[string]bool
	// deleteErr is the answer to deleting a namespace with the exporter's token.
	deleteErr error
	// afterDelete is that namespace as the admin sees it afterwards.
	afterDelete *corev1.Namespace
	audit       []testenv.AuditEvent
	log         string
}

var (
	exporterOnce sync.Once
	exporterRes  *exporterRun
)

// exporterFixture runs the exporter once for the package; the tests that need
// it assert on different parts of what it showed.
func exporterFixture(t *testing.T) *exporterRun {
	t.Helper()
	exporterOnce.Do(func() { exporterRes = runExporterUnderServiceAccount(t) })
	if exporterRes == nil {
		t.Fatal("the exporter run failed in an earlier test")
	}
	return exporterRes
}

func runExporterUnderServiceAccount(t *testing.T) *exporterRun {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cp := controlPlane(t)
	admin, err := cp.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	// The exporter's identity and permissions exactly as rendered.
	base := renderedObjects(t, "deploy/base")
	applyForReal(t, adminKubeconfig(t, cp),
		find(t, base, "Namespace", systemNamespace),
		find(t, base, "ServiceAccount", "orphans-exporter"),
		find(t, base, "ClusterRole", "orphans-exporter"),
		find(t, base, "ClusterRoleBinding", "orphans-exporter"))

	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	dsn, err := pg.CreateLedger(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.InsertRows(ctx, dsn, []testenv.Row{
		{Token: tokenLive, Status: "active", ResourceType: "postgres"},
		// Any live row would make the token live: this one only ever failed.
		{Token: tokenTerminal, Status: "failed", ResourceType: "redis", CreatedAt: time.Now().Add(-2 * time.Hour)},
		{Token: tokenTerminal, Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"instant-customer-" + tokenLive, "instant-customer-" + tokenTerminal, "instant-customer-" + tokenNoRow, poolNamespace} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// A token bound to the ServiceAccount, as the kubelet would project it.
	tr, err := admin.CoreV1().ServiceAccounts(systemNamespace).CreateToken(ctx, "orphans-exporter",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "exporter.kubeconfig")
	if err := writeTokenKubeconfig(kubeconfig, cp, tr.Status.Token); err != nil {
		t.Fatal(err)
	}

	bins, err := testenv.Build()
	if err != nil {
		t.Fatal(err)
	}
	addr, apiAddr := freeAddr(t), freeAddr(t)
	args, env := exporterCommandLine(t, find(t, renderedObjects(t, "deploy/overlays/detect"), "Deployment", "orphans-exporter"),
		map[string]string{"--web.listen-address": addr, "--api.listen-address": apiAddr}, dsn)
	args = append(args,
		"--kubeconfig="+kubeconfig,
		// The namespaces were created a moment ago.
		"--sweep.grace=0s",
		"--sweep.interval=2s", "--sweep.timeout=2s", "--ledger.query-timeout=2s")
	cmd := exec.Command(bins.Exporter, args...)
	cmd.Env = env
	var logBuf testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	res := &exporterRun{}
	// /candidates is sorted by namespace.
	want := []string{"instant-customer-" + tokenTerminal, "instant-customer-" + tokenNoRow}
	waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer waitCancel()
	res.candidates, err = waitForCandidates(waitCtx, "http://"+apiAddr+"/candidates", want, exited)
	if err != nil {
		t.Fatalf("%v\nexporter log:\n%s", err, logBuf.String())
	}

	status, body, err := httpGet(ctx, "http://"+addr+"/metrics")
	if err != nil || status != http.StatusOK {
		t.Fatalf("/metrics: %d %v", status, err)
	}
	res.metricsText = string(body)
	res.metricNames = exposedNames(res.metricsText)

	// The same token, asked to do what the exporter must never do.
	sa, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	saClient, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	victim := "instant-customer-" + tokenTerminal
	res.deleteErr = saClient.CoreV1().Namespaces().Delete(ctx, victim, metav1.DeleteOptions{})
	if res.afterDelete, err = admin.CoreV1().Namespaces().Get(ctx, victim, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s after the refused delete: %v", victim, err)
	}
	if res.audit, err = cp.AuditEvents(func(e testenv.AuditEvent) bool { return e.User.Username == exporterSA }); err != nil {
		t.Fatal(err)
	}
	res.log = logBuf.String()
	return res
}

// exporterCommandLine turns the rendered Deployment's container into a local
// command line: the same arguments and literal environment, with the listen
// addresses moved to loopback (listen, by flag) and the DSN Secret's value
// supplied directly. Each flag of listen must be among the arguments.
func exporterCommandLine(t *testing.T, deployment *unstructured.Unstructured, listen map[string]string, dsn string) (args, env []string) {
	t.Helper()
	containers, _, err := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if err != nil || len(containers) != 1 {
		t.Fatalf("want one container in the Deployment, got %d (%v)", len(containers), err)
	}
	var c corev1.Container
	b, _ := json.Marshal(containers[0])
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Command) > 0 {
		t.Fatalf("the Deployment overrides the image's entrypoint: %v", c.Command)
	}
	moved := 0
	for _, a := range c.Args {
		flag, _, _ := strings.Cut(a, "=")
		if addr, ok := listen[flag]; ok {
			a = flag + "=" + addr
			moved++
		}
		args = append(args, a)
	}
	if moved != len(listen) {
		t.Fatalf("the Deployment's arguments %v do not set every listen address of %v", c.Args, listen)
	}
	// Only what the exporter needs from this process's environment.
	env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	sawDSN := false
	for _, e := range c.Env {
		switch {
		case e.Name == "ORPHANS_LEDGER_DSN":
			ref := e.ValueFrom
			if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "orphans-ledger" || ref.SecretKeyRef.Key != "dsn" {
				t.Fatalf("ORPHANS_LEDGER_DSN does not come from Secret orphans-ledger key dsn: %+v", e)
			}
			env = append(env, e.Name+"="+dsn)
			sawDSN = true
		case e.ValueFrom != nil:
			t.Fatalf("env %s comes from %+v, which this test cannot supply", e.Name, e.ValueFrom)
		default:
			env = append(env, e.Name+"="+e.Value)
		}
	}
	if !sawDSN {
		t.Fatal("the Deployment does not set ORPHANS_LEDGER_DSN")
	}
	return args, env
}

// waitForCandidates polls the API listener until a successful sweep lists
// exactly want, and returns that answer.
func waitForCandidates(ctx context.Context, url string, want []string, exited <-chan error) (api.Candidates, error) {
	var (
		last string
		doc  api.Candidates
	)
	err := testenv.WaitFor(ctx, func() (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("the exporter exited: %v", err)
		default:
		}
		status, body, err := httpGet(ctx, url)
		if err != nil {
			return false, nil // not listening yet
		}
		last = fmt.Sprintf("%d %s", status, body)
		if status != http.StatusOK {
			return false, nil
		}
		var c api.Candidates
		if err := json.Unmarshal(body, &c); err != nil {
			return false, fmt.Errorf("/candidates: %w: %s", err, body)
		}
		var names []string
		for _, cand := range c.Candidates {
			names = append(names, cand.Namespace)
		}
		doc = c
		return c.Sweep.OK && slices.Equal(names, want), nil
	})
	if err != nil {
		return doc, fmt.Errorf("waiting for a sweep that finds %v on %s: %w\nlast answer: %s", want, url, err, last)
	}
	return doc, nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

func writeTokenKubeconfig(path string, cp *testenv.ControlPlane, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: cp.Admin.Host, CertificateAuthorityData: cp.Admin.CAData}
	cfg.AuthInfos["orphans-exporter"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "orphans-exporter", Namespace: systemNamespace}
	cfg.CurrentContext = "test"
	return clientcmd.WriteToFile(*cfg, path)
}

func httpGet(ctx context.Context, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// exposedNames lists the series names of a text exposition (histograms appear
// as their _bucket, _sum and _count series, as PromQL sees them).
func exposedNames(text string) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// sampleValue returns the value of one series of a text exposition.
func sampleValue(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// The exporter does its job with nothing but the rendered ServiceAccount's
// permissions, and that token cannot delete a namespace.
func TestExporterUnderServiceAccount(t *testing.T) {
	r := exporterFixture(t)

	t.Run("sweeps successfully", func(t *testing.T) {
		c := r.candidates
		if !c.Enabled || c.DestructiveEnabled || !c.Sweep.OK {
			t.Fatalf("enabled %v destructive %v sweep %+v; want the detect overlay's enabled, non-destructive, successful sweep", c.Enabled, c.DestructiveEnabled, c.Sweep)
		}
		kinds := map[string]string{}
		for _, cand := range c.Candidates {
			kinds[cand.Namespace] = cand.Kind + "/" + cand.Reason
			if cand.Reclaimable {
				t.Errorf("%s reclaimable with the destructive flag off", cand.Namespace)
			}
		}
		want := map[string]string{
			"instant-customer-" + tokenTerminal: api.KindRedis + "/" + api.ReasonTerminal,
			"instant-customer-" + tokenNoRow:    api.KindCustomer + "/" + api.ReasonNoRow,
		}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Errorf("candidates %v, want %v", kinds, want)
		}
		for series, want := range map[string]float64{
			"instant_orphan_db_sweep_up":                                            1,
			"instant_orphan_db_sweep_enabled":                                       1,
			"instant_orphan_db_sweep_destructive_enabled":                           0,
			`instant_orphan_db_sweep_candidates_current{kind="redis_namespace"}`:    1,
			`instant_orphan_db_sweep_candidates_current{kind="customer_namespace"}`: 1,
		} {
			if got, ok := sampleValue(r.metricsText, series); !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
			}
		}
	})

	t.Run("delete with its token is refused", func(t *testing.T) {
		if !apierrors.IsForbidden(r.deleteErr) {
			t.Fatalf("DELETE namespace with the exporter's token: %v, want 403 Forbidden", r.deleteErr)
		}
		if r.afterDelete.DeletionTimestamp != nil {
			t.Fatalf("namespace %s is being deleted", r.afterDelete.Name)
		}
	})

	t.Run("asked only for what it is granted", func(t *testing.T) {
		// What the candidates' namespaces hold is listed, never more.
		contents := map[string]bool{"pods": true, "persistentvolumeclaims": true, "services": true, "configmaps": true,
			"serviceaccounts": true, "statefulsets": true, "deployments": true, "jobs": true, "cronjobs": true,
			"ingresses": true, "rolebindings": true}
		var reads int
		for _, e := range r.audit {
			if e.ObjectRef != nil && contents[e.ObjectRef.Resource] {
				if e.Verb != "list" || (e.ResponseStatus != nil && e.ResponseStatus.Code == http.StatusForbidden) {
					t.Errorf("exporter requested %s %s", e.Verb, e.RequestURI)
				}
				continue
			}
			if e.ObjectRef == nil || e.ObjectRef.Resource != "namespaces" {
				t.Errorf("exporter requested %s %s", e.Verb, e.RequestURI)
				continue
			}
			code := 0
			if e.ResponseStatus != nil {
				code = e.ResponseStatus.Code
			}
			switch e.Verb {
			case "get", "list", "watch":
				reads++
				if code == http.StatusForbidden {
					t.Errorf("exporter was refused %s %s", e.Verb, e.RequestURI)
				}
			case "delete":
				if code != http.StatusForbidden {
					t.Errorf("delete %s answered %d", e.RequestURI, code)
				}
			default:
				t.Errorf("exporter requested %s %s (%d)", e.Verb, e.RequestURI, code)
			}
		}
		if reads == 0 {
			t.Fatalf("no namespace reads by %s in the audit log", exporterSA)
		}
		t.Logf("%d audited requests by %s, %d of them namespace reads", len(r.audit), exporterSA, reads)
	})
}
