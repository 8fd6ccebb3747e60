//go:build integration

package kube_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/testenv"
)

func TestWhoAmIAsksTheAPIServer(t *testing.T) {
	cp, err := testenv.StartControlPlane(testenv.ControlPlaneOptions{NoAudit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	u, err := cp.AddUser("alice@example.com", "orphans-operators")
	if err != nil {
		t.Fatal(err)
	}
	id, err := kube.WhoAmI(ctx, kubernetes.NewForConfigOrDie(u.Config()))
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != "alice@example.com" || !slices.Contains(id.Groups, "orphans-operators") || !slices.Contains(id.Groups, "system:authenticated") {
		t.Fatalf("identity %+v", id)
	}

	// Impersonation is resolved by the server: the answer is who the
	// request acts as, which is what an audit record must name.
	imp := rest.CopyConfig(cp.Admin)
	imp.Impersonate = rest.ImpersonationConfig{UserName: "bob@example.com"}
	id, err = kube.WhoAmI(ctx, kubernetes.NewForConfigOrDie(imp))
	if err != nil || id.Username != "bob@example.com" {
		t.Fatalf("impersonated identity %+v, %v", id, err)
	}

}
