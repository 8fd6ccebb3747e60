// Command demo runs orphans end to end on this machine: a throwaway
// PostgreSQL ledger and a real kube-apiserver, a seeded fleet of tenant
// namespaces covering every case, and orphans-exporter sweeping it with the
// audit-only defaults. `make demo` runs it; Ctrl-C removes everything.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

const prefix = "instant-customer-"

func main() {
	binDir := flag.String("bin", "bin", "directory holding orphans-exporter (and kubectl-orphans)")
	port := flag.Int("port", 9866, "port of the exporter's metrics on 127.0.0.1, its API on the next one (free ones are used if they are taken)")
	grace := flag.Duration("grace", 30*time.Second, "sweep grace for the demo (the default of a real deployment is 1h)")
	flag.Parse()
	if err := run(*binDir, *port, *grace); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(binDir string, port int, grace time.Duration) error {
	binDir, _ = filepath.Abs(binDir)
	exporterBin := filepath.Join(binDir, "orphans-exporter")
	if _, err := os.Stat(exporterBin); err != nil {
		return fmt.Errorf("%s not found: run `make build` first", exporterBin)
	}
	// One folder holds everything the demo, PostgreSQL and the control
	// plane write, so that removing it removes all of it. PostgreSQL runs
	// as a user of its own and must reach its part.
	dir, err := os.MkdirTemp("", "orphans-demo-")
	if err != nil {
		return err
	}
	if err := errors.Join(os.Chmod(dir, 0o755), os.Setenv("TMPDIR", dir)); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Ctrl-C reaches every process of the terminal's foreground group, and
	// etcd and kube-apiserver are in it: etcd exits at once, and
	// kube-apiserver, left without its storage, would then take minutes to
	// shut down. Their data goes with the demo anyway, so the first signal
	// kills them outright. Whatever does not end within seconds of the signal
	// (a start-up that does not listen to it) is cut short: every process
	// the demo started is killed and its folder removed.
	finished := make(chan struct{})
	go func() {
		<-ctx.Done()
		killChildren(true)
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			killChildren(false)
			_ = os.RemoveAll(dir)
			fmt.Fprintln(os.Stderr, "demo: interrupted; every process it started is stopped and its folder removed")
			os.Exit(130)
		}
	}()
	defer func() {
		killChildren(false)
		_ = os.RemoveAll(dir)
		close(finished)
	}()

	say("starting PostgreSQL (the ledger)")
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		return err
	}
	defer pg.Stop()
	dsn, err := pg.CreateLedger(ctx, "platform")
	if err != nil {
		return err
	}

	say("starting a local control plane (kube-apiserver + etcd)")
	cp, err := testenv.StartControlPlane(testenv.ControlPlaneOptions{NoAudit: true})
	if err != nil {
		return err
	}
	defer cp.Stop()
	admin, err := cp.Clientset()
	if err != nil {
		return err
	}
	adminUser, err := cp.AddUser("demo-admin", "system:masters")
	if err != nil {
		return err
	}
	adminKubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := testenv.WriteKubeconfig(adminUser, adminKubeconfig); err != nil {
		return err
	}
	exporterKubeconfig, err := exporterIdentity(ctx, cp, admin, dir)
	if err != nil {
		return err
	}

	say("seeding a fleet of tenant namespaces and ledger rows")
	young, err := seed(ctx, admin, dsn)
	if err != nil {
		return err
	}

	apiPort := port + 1
	if !portFree(port) || !portFree(apiPort) {
		if port, err = testenv.FreePort(); err != nil {
			return err
		}
		if apiPort, err = testenv.FreePort(); err != nil {
			return err
		}
	}
	// The API (tokens) and the metrics are two listeners.
	url, metricsURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort), fmt.Sprintf("http://127.0.0.1:%d", port)
	say("starting orphans-exporter: API on %s, metrics on %s (audit-only: %s=true, %s unset)", url, metricsURL, "ORPHAN_DB_SWEEP_ENABLED", "ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED")
	exporterLog, err := os.Create(filepath.Join(dir, "exporter.log"))
	if err != nil {
		return err
	}
	defer exporterLog.Close()
	cmd := exec.Command(exporterBin,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		fmt.Sprintf("--api.listen-address=127.0.0.1:%d", apiPort),
		"--kubeconfig="+exporterKubeconfig,
		"--sweep.interval=5s", "--sweep.timeout=5s", "--ledger.query-timeout=5s",
		"--sweep.grace="+grace.String(),
		"--ghosts.interval=10s", "--ghosts.grace=1h", "--contents.qps=25",
		"--log.level=info",
	)
	cmd.Env = append(os.Environ(), "ORPHAN_DB_SWEEP_ENABLED=true", "ORPHANS_LEDGER_DSN="+dsn)
	cmd.Stdout, cmd.Stderr = exporterLog, exporterLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := testenv.StartProcess(cmd); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	say("waiting for the namespaces to pass the %s grace and the first sweeps to confirm them", grace)
	doc, err := waitForCandidates(ctx, url, grace+30*time.Second)
	if err != nil {
		return fmt.Errorf("%w (exporter log: %s)", err, exporterLog.Name())
	}
	fmt.Println()
	if err := showList(ctx, binDir, adminKubeconfig, url, doc); err != nil {
		return err
	}
	if err := waitForGhosts(ctx, url, 30*time.Second); err != nil {
		return fmt.Errorf("%w (exporter log: %s)", err, exporterLog.Name())
	}
	fmt.Println()
	if err := showGhosts(ctx, binDir, adminKubeconfig, url); err != nil {
		return err
	}
	fmt.Println()
	if err := showMetrics(ctx, metricsURL); err != nil {
		return err
	}

	fmt.Printf(`
Not every namespace is a candidate: live rows (pending, active, paused,
suspended), a token with one live row among terminal ones, pool items,
namespaces labelled orphans.dev/keep=true and other prefixes are not; %d
namespaces were created a moment ago and stay out until they are %s old.
Nothing is reclaimable: the destructive flag is off, as it is by default.
PODS, PVCS and STORAGE show what a reclaim would destroy. The ghosts are the
opposite failure: live ledger rows whose namespace is gone.

Try next, in another shell:
  export KUBECONFIG=%s
  export PATH=%s:$PATH
  kubectl orphans list -o wide --exporter-url %s
  kubectl orphans ghosts -o wide --exporter-url %s
  curl -s %s/candidates | python3 -m json.tool
  curl -s %s/metrics | grep '^instant_orphan'
  # bring an orphan back to life; the fresh check sees it at once,
  # the next sweep counts it in candidates_resurrected_total:
  psql '%s' -c "INSERT INTO resources (token, status, resource_type) VALUES ('%s', 'active', 'redis')"
  curl -s %s/candidates/%s%s
Exporter log: %s

Press Ctrl-C to stop and remove everything.
`, len(young), grace, adminKubeconfig, binDir, url, url, url, metricsURL, dsn, firstRedis(doc), url, prefix, firstRedis(doc), exporterLog.Name())

	<-ctx.Done()
	fmt.Println()
	say("stopping the exporter, the control plane and PostgreSQL")
	return nil
}

// exporterIdentity gives the exporter its own user with only get/list/watch
// on namespaces, as deploy/ does in a cluster.
func exporterIdentity(ctx context.Context, cp *testenv.ControlPlane, admin *kubernetes.Clientset, dir string) (string, error) {
	const name = "orphans-exporter"
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      testenv.ExporterRules(),
	}, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: name}},
	}, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	u, err := cp.AddUser(name)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "exporter.kubeconfig")
	return path, testenv.WriteKubeconfig(u, path)
}

type tenant struct {
	name   string
	labels map[string]string
	rows   []testenv.Row
}

// seed creates a realistic fleet: mostly live tenants, a leak of orphans of
// every kind, and the namespaces that must never be taken for orphans.
func seed(ctx context.Context, admin *kubernetes.Clientset, dsn string) ([]string, error) {
	now := time.Now()
	row := func(tok, status, typ string, age time.Duration) testenv.Row {
		return testenv.Row{Token: tok, Status: status, ResourceType: typ, CreatedAt: now.Add(-age)}
	}
	var tenants []tenant
	add := func(status []string, types []string, n int) {
		for i := 0; i < n; i++ {
			tok := uuid.NewString()
			var rows []testenv.Row
			for j, st := range status {
				rows = append(rows, row(tok, st, types[j%len(types)], time.Duration(len(status)-j)*24*time.Hour))
			}
			tenants = append(tenants, tenant{name: prefix + tok, rows: rows})
		}
	}
	// live tenants, in every live status
	for _, st := range []string{"active", "active", "active", "pending", "paused", "suspended"} {
		add([]string{st}, []string{"postgres", "redis"}, 4)
	}
	add([]string{"failed", "deleted"}, []string{"redis"}, 5)              // torn-down redis: redis_namespace
	add([]string{"expired"}, []string{"postgres"}, 3)                     // expired postgres: customer_namespace
	add(nil, nil, 2)                                                      // no row at all
	add([]string{"paused", "deleted"}, []string{"postgres"}, 2)           // one row still live: not an orphan
	add([]string{"deleted", "provisioning"}, []string{"redis"}, 1)        // a status neither live nor terminal: unknown_status
	add([]string{"deleted", "deleted"}, []string{"postgres", "redis"}, 1) // a postgres, later a redis: mixed_types
	tenants = append(tenants, tenant{name: prefix + "legacy-7f3a"})       // a token that is not a uuid
	tok := uuid.NewString()
	tenants = append(tenants,
		tenant{name: prefix + "pool-" + uuid.NewString()[:8]}, // pre-provisioned pool item
		tenant{name: prefix + tok, labels: map[string]string{"orphans.dev/keep": "true"}, rows: []testenv.Row{row(tok, "deleted", "redis", time.Hour)}},
		tenant{name: "monitoring"}, tenant{name: "platform-system"},
	)
	// Ghosts: live rows, long past the ghost grace, whose namespace is gone.
	var ghosts []testenv.Row
	for i, typ := range []string{"redis", "postgres", "redis"} {
		ghosts = append(ghosts, row(uuid.NewString(), []string{"active", "active", "suspended"}[i], typ, time.Duration(3+i)*24*time.Hour))
	}
	terminating := uuid.NewString()
	tenants = append(tenants, tenant{name: prefix + terminating, rows: []testenv.Row{row(terminating, "deleted", "redis", time.Hour)}})
	// most ledger rows belong to tokens whose namespaces are long gone
	var history []testenv.Row
	for i := 0; i < 500; i++ {
		history = append(history, row(uuid.NewString(), "reaped", []string{"redis", "postgres"}[i%2], 90*24*time.Hour))
	}

	var rows []testenv.Row
	for _, t := range tenants {
		rows = append(rows, t.rows...)
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.name, Labels: t.labels}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	if err := testenv.InsertRows(ctx, dsn, append(append(rows, history...), ghosts...)); err != nil {
		return nil, err
	}
	// What a reclaim would destroy: the first torn-down redis tenants still
	// hold a redis pod (Pending: no kubelet runs here) and its volume.
	held := 0
	for _, t := range tenants {
		if held == 3 || len(t.rows) != 2 || t.rows[1].Status != "deleted" || t.rows[1].ResourceType != "redis" {
			continue
		}
		if err := holdData(ctx, admin, t.name, fmt.Sprintf("%dGi", 8<<held)); err != nil {
			return nil, err
		}
		held++
	}
	// Teardown started, never finished: the namespace stays Terminating.
	if err := admin.CoreV1().Namespaces().Delete(ctx, prefix+terminating, metav1.DeleteOptions{}); err != nil {
		return nil, err
	}
	// Two tenants created later, still within grace when the list is shown.
	time.Sleep(15 * time.Second)
	var young []string
	for i := 0; i < 2; i++ {
		tok := uuid.NewString()
		if err := testenv.InsertRows(ctx, dsn, []testenv.Row{row(tok, "deleted", "redis", time.Minute)}); err != nil {
			return nil, err
		}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + tok}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		young = append(young, prefix+tok)
	}
	say("%d namespaces, %d ledger rows (%d of them live without a namespace: ghosts)", len(tenants)+len(young), len(rows)+len(history)+len(ghosts)+len(young), len(ghosts))
	return young, nil
}

// holdData gives namespace a redis pod and a PersistentVolumeClaim of size.
func holdData(ctx context.Context, admin *kubernetes.Clientset, namespace, size string) error {
	core := admin.CoreV1()
	_, err := core.PersistentVolumeClaims(namespace).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-redis-0"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	_, err = core.Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-0"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-redis-0"}}}},
		},
	}, metav1.CreateOptions{})
	return err
}

// waitForGhosts waits until a ghost sweep has succeeded.
func waitForGhosts(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(url + "/ghosts")
		if err == nil {
			var doc api.Ghosts
			ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&doc) == nil && doc.Sweep.OK
			resp.Body.Close()
			if ok {
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	return errors.New("no ghost sweep in time")
}

// waitForCandidates waits until a sweep lists candidates, the oldest have
// been confirmed by three sweeps, and what each holds has been read.
func waitForCandidates(ctx context.Context, url string, timeout time.Duration) (api.Candidates, error) {
	deadline := time.Now().Add(timeout)
	var doc api.Candidates
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return doc, ctx.Err()
		}
		resp, err := http.Get(url + "/candidates")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &doc) == nil {
				confirmed, read := 0, 0
				for _, c := range doc.Candidates {
					if c.ConsecutiveSweeps >= 3 {
						confirmed++
					}
					if c.Contents != nil {
						read++
					}
				}
				if confirmed > 0 && read == len(doc.Candidates) {
					return doc, nil
				}
			}
		}
		time.Sleep(time.Second)
	}
	return doc, errors.New("no candidates confirmed in time")
}

// kubectlOrphans runs `kubectl orphans ARGS…` through kubectl's plugin
// discovery; it reports false when kubectl or the plugin is not there.
func kubectlOrphans(ctx context.Context, binDir, kubeconfig string, args ...string) (bool, error) {
	if _, err := os.Stat(filepath.Join(binDir, "kubectl-orphans")); err != nil {
		return false, nil
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return false, nil
	}
	say("kubectl orphans %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"orphans"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return true, cmd.Run()
}

// showList shows `kubectl orphans list -o wide` (what each candidate holds
// included), or prints the default columns itself without the plugin.
func showList(ctx context.Context, binDir, kubeconfig, url string, doc api.Candidates) error {
	if ran, err := kubectlOrphans(ctx, binDir, kubeconfig, "list", "-o", "wide", "--exporter-url", url); ran {
		return err
	}
	say("candidates (GET %s/candidates)", url)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tTOKEN\tKIND\tTYPE\tREASON\tAGE\tSEEN\tRECLAIMABLE")
	for _, c := range doc.Candidates {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%v\n", c.Namespace, c.TokenMasked, c.Kind, dash(c.ResourceType), c.Reason,
			time.Since(c.NamespaceCreatedAt).Round(time.Second), c.ConsecutiveSweeps, c.Reclaimable)
	}
	return tw.Flush()
}

// showGhosts shows `kubectl orphans ghosts`, or says where to read them
// without the plugin.
func showGhosts(ctx context.Context, binDir, kubeconfig, url string) error {
	if ran, err := kubectlOrphans(ctx, binDir, kubeconfig, "ghosts", "--exporter-url", url); ran {
		return err
	}
	say("ghosts: GET %s/ghosts", url)
	return nil
}

func showMetrics(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	say("the two headline metrics (GET %s/metrics)", url)
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "instant_orphan_db_sweep_candidates_total{") || strings.HasPrefix(l, "instant_orphan_db_sweep_candidates_current{") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	return nil
}

func firstRedis(doc api.Candidates) string {
	for _, c := range doc.Candidates {
		if c.Kind == api.KindRedis && !c.Terminating {
			return c.Token
		}
	}
	return "<token>"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// killChildren kills this process's children: with ownGroup, only those in
// its own process group (the control plane's processes and the exporter,
// which the terminal's Ctrl-C reaches too); otherwise all of them,
// PostgreSQL too, which runs in a group of its own and is stopped cleanly
// unless the demo is cut short.
func killChildren(ownGroup bool) {
	self, group := os.Getpid(), syscall.Getpgrp()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: state, ppid, pgrp.
		_, rest, ok := strings.Cut(string(stat), ") ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 3 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		if pgrp, _ := strconv.Atoi(fields[2]); !ownGroup || pgrp == group {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
