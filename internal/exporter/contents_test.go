//go:build integration

package exporter

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

func TestContentsOnTheRealAPIServer(t *testing.T) {
	ctx := context.Background()
	const pfx = "contents-customer-"
	const (
		tFull  = "c0e70000-0000-4000-8000-000000000001"
		tEmpty = "c0e70000-0000-4000-8000-000000000002"
	)
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{
		{Token: tFull, Status: "deleted", ResourceType: "redis"}, {Token: tEmpty, Status: "deleted", ResourceType: "redis"},
	}); err != nil {
		t.Fatal(err)
	}
	full, empty := pfx+tFull, pfx+tEmpty
	for _, n := range []string{full, empty} {
		if _, err := createNamespace(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.CoreV1().PersistentVolumeClaims(full).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := admin.CoreV1().Pods(full).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-0"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(fleetGrace)

	// Long enough that a round and a sweep under the race detector on a
	// busy machine fit in it after a change.
	const quiet = 10 * time.Second
	r := start(t, testConfig(t, exporterUser(t, "exporter-contents"), destructiveEnv(),
		"--namespace.prefix="+pfx, "--sweep.confirmations=1", "--reclaim.quiet-period="+quiet.String(), "--contents.qps=50"))
	r.sweep()

	c := candidateOf(t, r, full)
	got := c.Contents
	if got == nil || got.Pods != 1 || got.PodsRunning != 0 || got.PVCs != 1 || got.StorageRequestedBytes != 2<<30 || got.Error != "" {
		t.Fatalf("contents of %s: %+v", full, got)
	}
	lastChange := got.LastChangeAt
	if e := candidateOf(t, r, empty).Contents; e == nil || e.Pods != 0 || e.PVCs != 0 || e.StorageRequestedBytes != 0 || e.Error != "" || e.LastChangeAt.IsZero() {
		t.Fatalf("contents of the empty %s: %+v", empty, e)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_candidates_storage_requested_bytes", "kind", api.KindRedis); v != 2<<30 {
		t.Fatalf("storage gauge: %v", v)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_candidates_pods", "kind", api.KindRedis); v != 1 {
		t.Fatalf("pods gauge: %v", v)
	}
	if v := r.metric(t, "instant_orphan_db_sweep_contents_requests_total"); v == 0 {
		t.Fatal("contents requests not counted")
	}

	// A status-only update is not a change.
	time.Sleep(1100 * time.Millisecond)
	pod.Status.Phase = corev1.PodRunning
	if _, err := admin.CoreV1().Pods(full).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var fresh api.Candidate
	if code := r.getJSON(t, "/candidates/"+full, &fresh); code != http.StatusOK || fresh.Contents == nil {
		t.Fatalf("fresh check: %d %+v", code, fresh)
	}
	if fresh.Contents.PodsRunning != 1 || !fresh.Contents.LastChangeAt.Equal(lastChange) {
		t.Fatalf("fresh check after a status-only update: %+v, last change was %v", fresh.Contents, lastChange)
	}

	// Wait out the quiet period: reclaim is earned.
	time.Sleep(time.Until(lastChange.Add(quiet + time.Second)))
	if code := r.getJSON(t, "/candidates/"+full, &fresh); code != http.StatusOK || !fresh.Reclaimable {
		t.Fatalf("after the quiet period: %d %+v %+v", code, fresh, fresh.Contents)
	}
	// A fresh change inside the namespace holds reclaim back, at once on a fresh check.
	if _, err := admin.CoreV1().ConfigMaps(full).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := r.getJSON(t, "/candidates/"+full, &fresh); code != http.StatusOK || fresh.Reclaimable || fresh.NotReclaimableReason != api.NotReclaimableRecentChange {
		t.Fatalf("after a change: %d %+v", code, fresh)
	}
	// The sweeps learn it at the next full round; then, after the quiet period, it is earned again.
	r.contents.round(ctx, true)
	r.sweep()
	if c := candidateOf(t, r, full); c.Reclaimable || c.NotReclaimableReason != api.NotReclaimableRecentChange {
		t.Fatalf("sweep after a change: %+v", c)
	}
	time.Sleep(quiet + time.Second)
	r.sweep()
	if c := candidateOf(t, r, full); !c.Reclaimable {
		t.Fatalf("sweep after the quiet period: %+v %+v", c, c.Contents)
	}
}

func TestContentsWithoutRBACFailSafe(t *testing.T) {
	ctx := context.Background()
	const np = "norbac-customer-"
	const tok = "c0e70000-0000-4000-8000-000000000003"
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{{Token: tok, Status: "deleted", ResourceType: "redis"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := createNamespace(ctx, np+tok, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fleetGrace)
	r := start(t, testConfig(t, exporterUserWithRole(t, "exporter-contents-norbac", namespacesOnlyRole), destructiveEnv(),
		"--namespace.prefix="+np, "--sweep.confirmations=1"))
	r.sweep()
	c := candidateOf(t, r, np+tok)
	if c.Reclaimable || c.NotReclaimableReason != api.NotReclaimableRecentChange || c.Contents == nil || c.Contents.Error == "" {
		t.Fatalf("contents without RBAC: %+v %+v", c, c.Contents)
	}
	if r.metric(t, "instant_orphan_db_sweep_up") != 1 {
		t.Fatal("the sweep went down with contents")
	}
	var fresh api.Candidate
	if code := r.getJSON(t, "/candidates/"+np+tok, &fresh); code != http.StatusOK || fresh.Reclaimable ||
		fresh.NotReclaimableReason != api.NotReclaimableRecentChange || fresh.Contents == nil || fresh.Contents.Error == "" {
		t.Fatalf("fresh check without RBAC: %d %+v", code, fresh)
	}
}
