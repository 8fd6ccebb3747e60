//go:build integration

package deploy_test

import (
	"archive/tar"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/orphansweep/orphans/internal/testenv"
)

// Tenants of the image's run, apart from the other tests' by a label the
// exporter is told to select.
const (
	imageTokenLive     = "0c0ffee0-0000-4000-8000-000000000001"
	imageTokenTerminal = "0c0ffee0-0000-4000-8000-000000000002"
	imageTokenNoRow    = "0c0ffee0-0000-4000-8000-000000000003"
	imageRunSelector   = "orphans.test/image-run=true"
	// Where the test puts the exporter's kubeconfig in the unpacked image.
	imageKubeconfig = "/etc/orphans/kubeconfig"
)

// testImageRuns unpacks the image's layers into a directory and runs its
// entrypoint there as a container runtime would: chrooted into it, as the
// image's user, with the image's environment and working directory, and the
// arguments and environment of the detect overlay's Deployment. The loopback
// network is the host's, so the exporter reaches the test bed's API server and
// PostgreSQL on 127.0.0.1.
func testImageRuns(t *testing.T, img v1.Image) {
	if os.Geteuid() != 0 {
		t.Fatalf("running the image needs root, to chroot into its file system and switch to its user; this test runs as uid %d. "+
			"Run the integration tier as root, as make test does in CI", os.Geteuid())
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := imageIDs(t, cf.Config.User)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	unpackRootFS(t, img, rootfs)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp := controlPlane(t)
	token := imageRunCluster(ctx, t, cp)
	dsn, stopLedger := imageRunLedger(ctx, t)
	defer stopLedger()

	// The kubeconfig names no CA: the exporter can trust the API server only
	// through the CA bundle at the image's SSL_CERT_FILE, to which the test
	// bed's CA is added here as a private cluster CA would be. A bundle at any
	// other path, or unreadable by 65532, fails the run.
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cp.Admin.Host}
	kc.AuthInfos["orphans-exporter"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "orphans-exporter", Namespace: systemNamespace}
	kc.CurrentContext = "test"
	kcBytes, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}
	writeRootFile(t, rootfs, imageKubeconfig, kcBytes, 0o600, int(uid), int(gid))
	bundle := strings.TrimPrefix(envValueOf(cf.Config.Env, "SSL_CERT_FILE"), "/")
	appendFile(t, filepath.Join(rootfs, bundle), cp.Admin.CAData)

	metricsAddr, apiAddr := freeAddr(t), freeAddr(t)
	args, env := exporterCommandLine(t, find(t, renderedObjects(t, "deploy/overlays/detect"), "Deployment", "orphans-exporter"),
		map[string]string{"--web.listen-address": metricsAddr, "--api.listen-address": apiAddr}, dsn)
	args = append(args, "--kubeconfig="+imageKubeconfig, "--namespace.selector="+imageRunSelector,
		// The namespaces were created a moment ago.
		"--sweep.grace=0s", "--sweep.interval=2s", "--sweep.timeout=2s", "--ledger.query-timeout=2s")
	var logBuf testenv.SyncBuffer
	cmd := &exec.Cmd{
		Path: cf.Config.Entrypoint[0],
		Args: append(slices.Clone(cf.Config.Entrypoint), args...),
		Env:  containerEnv(cf.Config.Env, "/home/nonroot", env),
		Dir:  cf.Config.WorkingDir,
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     rootfs,
			Credential: &syscall.Credential{Uid: uid, Gid: gid},
			Pdeathsig:  syscall.SIGKILL,
		},
		Stdout: &logBuf,
		Stderr: &logBuf,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s chrooted in %s: %v", cmd.Path, rootfs, err)
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

	want := []string{"instant-customer-" + imageTokenTerminal, "instant-customer-" + imageTokenNoRow}
	if _, err := waitForCandidates(ctx, "http://"+apiAddr+"/candidates", want, exited); err != nil {
		t.Fatalf("%v\nexporter log:\n%s", err, logBuf.String())
	}
	status, body, err := httpGet(ctx, "http://"+metricsAddr+"/metrics")
	if err != nil || status != http.StatusOK {
		t.Fatalf("/metrics on the metrics listener: %d %v", status, err)
	}
	if v, ok := sampleValue(string(body), "instant_orphan_db_sweep_up"); !ok || v != 1 {
		t.Errorf("instant_orphan_db_sweep_up = %v (present %v), want 1", v, ok)
	}
	if !hasSeries(string(body), "orphans_exporter_build_info", `version="`+testenv.TestVersion+`"`) {
		t.Errorf("no orphans_exporter_build_info with version %q in\n%s", testenv.TestVersion, body)
	}
	checkProcess(t, cmd.Process.Pid, rootfs, uid, gid)
}

// imageIDs parses the image's numeric uid:gid.
func imageIDs(t *testing.T, user string) (uid, gid uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uu, err1 := strconv.ParseUint(u, 10, 32)
	gg, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil || uu == 0 || gg == 0 {
		t.Fatalf("image user %q, want a numeric non-root uid:gid", user)
	}
	return uint32(uu), uint32(gg)
}

// unpackRootFS writes the image's flattened file system under dir with the
// modes and owners of its layers.
func unpackRootFS(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	files := rootFS(t, img)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Sorted, a directory comes before what it holds.
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		if strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
			t.Fatalf("layer entry %q leaves the root file system", name)
		}
		p := filepath.Join(dir, name)
		var err error
		switch f.hdr.Typeflag {
		case tar.TypeDir:
			err = os.Mkdir(p, 0o700)
		case tar.TypeReg:
			err = os.WriteFile(p, f.data, 0o600)
		default:
			t.Fatalf("layer entry %s of type %q: the image holds only files and directories", name, f.hdr.Typeflag)
		}
		if err == nil {
			err = os.Lchown(p, f.hdr.Uid, f.hdr.Gid)
		}
		if err == nil {
			// After the owner: chown clears set-id bits.
			err = os.Chmod(p, f.hdr.FileInfo().Mode())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func writeRootFile(t *testing.T, rootfs, path string, data []byte, mode os.FileMode, uid, gid int) {
	t.Helper()
	p := filepath.Join(rootfs, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(append([]byte("\n"), data...)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func envValueOf(env []string, key string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

// containerEnv is the environment a runtime gives the container: the
// image's, HOME from the user's passwd entry, then the container's own, which
// wins. The host's PATH and HOME, which exporterCommandLine passes on for a
// local run, are left out.
func containerEnv(image []string, home string, container []string) []string {
	byKey := map[string]string{}
	var order []string
	set := func(e string) {
		k, _, _ := strings.Cut(e, "=")
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = e
	}
	for _, e := range image {
		set(e)
	}
	set("HOME=" + home)
	for _, e := range container {
		if !strings.HasPrefix(e, "PATH=") && !strings.HasPrefix(e, "HOME=") {
			set(e)
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, byKey[k])
	}
	return env
}

// imageRunCluster gives the exporter's ServiceAccount its rendered
// permissions, creates the run's namespaces and returns a token bound to the
// ServiceAccount, as the kubelet would project it.
func imageRunCluster(ctx context.Context, t *testing.T, cp *testenv.ControlPlane) string {
	t.Helper()
	admin, err := cp.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	base := renderedObjects(t, "deploy/base")
	applyForReal(t, adminKubeconfig(t, cp),
		find(t, base, "Namespace", systemNamespace),
		find(t, base, "ServiceAccount", "orphans-exporter"),
		find(t, base, "ClusterRole", "orphans-exporter"),
		find(t, base, "ClusterRoleBinding", "orphans-exporter"))
	key, value, _ := strings.Cut(imageRunSelector, "=")
	for _, tok := range []string{imageTokenLive, imageTokenTerminal, imageTokenNoRow} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "instant-customer-" + tok, Labels: map[string]string{key: value}}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := admin.CoreV1().ServiceAccounts(systemNamespace).CreateToken(ctx, "orphans-exporter",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// imageRunLedger starts PostgreSQL with a ledger in which one token is live
// and one only ever terminal.
func imageRunLedger(ctx context.Context, t *testing.T) (dsn string, stop func()) {
	t.Helper()
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dsn, err = pg.CreateLedger(ctx, "image_ledger"); err == nil {
		err = testenv.InsertRows(ctx, dsn, []testenv.Row{
			{Token: imageTokenLive, Status: "active", ResourceType: "postgres"},
			{Token: imageTokenTerminal, Status: "deleted", ResourceType: "redis", CreatedAt: time.Now().Add(-time.Hour)},
		})
	}
	if err != nil {
		pg.Stop()
		t.Fatal(err)
	}
	return dsn, pg.Stop
}

func hasSeries(text, metric, label string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, metric+"{") && strings.Contains(line, label) {
			return true
		}
	}
	return false
}

// checkProcess reads from /proc that the exporter runs as uid:gid, with no
// supplementary group, inside rootfs.
func checkProcess(t *testing.T, pid int, rootfs string, uid, gid uint32) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(id uint32) string {
		s := strconv.FormatUint(uint64(id), 10)
		return strings.Join([]string{s, s, s, s}, "\t")
	}
	want := map[string]string{"Uid": ids(uid), "Gid": ids(gid), "Groups": ""}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if w, ok := want[k]; ok {
			if strings.TrimSpace(v) != w {
				t.Errorf("/proc/%d/status %s: %q, want %q (real, effective, saved, filesystem)", pid, k, strings.TrimSpace(v), w)
			}
			delete(want, k)
		}
	}
	if len(want) > 0 {
		t.Errorf("/proc/%d/status lacks %v", pid, want)
	}
	root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		t.Fatal(err)
	}
	if root != rootfs {
		t.Errorf("the exporter's root is %s, want the unpacked image %s", root, rootfs)
	}
}
