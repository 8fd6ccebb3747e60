//go:build integration

package testenv

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestControlPlaneRestartAndAudit(t *testing.T) {
	cp, err := StartControlPlane(ControlPlaneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cs, err := cp.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "instant-customer-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A user without any binding is refused: RBAC is on.
	u, err := cp.AddUser("someone")
	if err != nil {
		t.Fatal(err)
	}
	ucs := kubernetes.NewForConfigOrDie(u.Config())
	if _, err := ucs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("unbound user listed namespaces")
	}
	n, err := cp.RequestsBy("someone")
	if err != nil || n != 1 {
		t.Fatalf("audit: %d requests by someone (err %v), want 1", n, err)
	}

	if err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "instant-customer-a", metav1.GetOptions{}); err == nil {
		t.Fatal("API server answered while stopped")
	}
	if err := cp.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	// Same address, same certificates, same data: old clients keep working.
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "instant-customer-a", metav1.GetOptions{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestPostgresHaltAndStart(t *testing.T) {
	ctx := context.Background()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	dsn, err := pg.CreateLedger(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if err := InsertRows(ctx, dsn, []Row{{Token: "0b6f1c3e-1111-4a4a-8a8a-000000000001", Status: "active", ResourceType: "redis"}}); err != nil {
		t.Fatal(err)
	}
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := Exec(ctx, dsn, "SELECT 1"); err == nil {
		t.Fatal("query succeeded with the server halted")
	}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := Exec(ctx, dsn, "SELECT count(*) FROM resources"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
