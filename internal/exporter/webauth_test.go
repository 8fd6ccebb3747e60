//go:build integration

package exporter

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/orphansweep/orphans/internal/testenv"
)

// TestKubernetesScrapeAuth runs --web.auth=kubernetes against the real API
// server with real ServiceAccount tokens, the exporter holding only the
// shipped review role and scrapers only the shipped metrics-reader role:
// a token allowed to get /metrics scrapes, a valid token without the
// permission is forbidden, an invalid or absent token is unauthorized, and
// the probes need no token. Answers are cached, so a second scrape makes no
// review request.
func TestKubernetesScrapeAuth(t *testing.T) {
	ctx := context.Background()
	const user = "exporter-web-auth"
	kubeconfig := exporterUser(t, user)
	bindShipped(t, "deploy/components/web-auth/auth-clusterrole.yaml", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user})

	const scrapers = "orphans-web-auth-scrapers"
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scrapers}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	token := func(sa string) string {
		t.Helper()
		if _, err := admin.CoreV1().ServiceAccounts(scrapers).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		tr, err := admin.CoreV1().ServiceAccounts(scrapers).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	allowed, denied := token("prometheus"), token("curious")
	bindShipped(t, "deploy/components/web-auth/metrics-reader-clusterrole.yaml", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: scrapers})

	// The sweep is off: the only requests the exporter's user makes are the
	// reviews of scrapes.
	r := start(t, testConfig(t, kubeconfig, map[string]string{}, "--web.auth=kubernetes"))
	scrape := func(path, bearer string) int {
		req, _ := http.NewRequest(http.MethodGet, r.url+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range probePaths {
		if code := scrape(p, ""); code != http.StatusOK {
			t.Errorf("probe %s without a token: %d, want 200", p, code)
		}
	}
	// The bindings above reach the API server's authorizer shortly after.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := testenv.WaitFor(wctx, func() (bool, error) { return scrape("/metrics", allowed) == http.StatusOK, nil }); err != nil {
		t.Fatalf("/metrics with a token allowed to get it never answered 200: %v", err)
	}
	if code := scrape("/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}
	if code := scrape("/metrics", "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with an invalid token: %d, want 401", code)
	}
	if code := scrape("/metrics", denied); code != http.StatusForbidden {
		t.Errorf("/metrics with a token not allowed to get it: %d, want 403", code)
	}

	before, err := cp.RequestsBy(user)
	if err != nil || before == 0 {
		t.Fatalf("reviews made by the exporter: %d (%v), want some", before, err)
	}
	if code := scrape("/metrics", allowed); code != http.StatusOK {
		t.Fatalf("second scrape: %d", code)
	}
	if after, err := cp.RequestsBy(user); err != nil || after != before {
		t.Errorf("a second scrape within the cache's minute made %d more review requests (%v), want 0", after-before, err)
	}
	if got := r.metric(t, "instant_orphan_db_sweep_http_requests_total", "handler", "/metrics", "code", "403"); got < 1 {
		t.Errorf("forbidden scrapes counted %v, want at least the one above", got)
	}
	if got := r.metric(t, "instant_orphan_db_sweep_http_requests_total", "handler", "/metrics", "code", "401"); got < 2 {
		t.Errorf("unauthorized scrapes counted %v, want at least the two above", got)
	}
}

// bindShipped creates a shipped ClusterRole (if needed) and binds it to who.
func bindShipped(t *testing.T, rel string, who rbacv1.Subject) {
	t.Helper()
	ctx := context.Background()
	role, err := testenv.ShippedClusterRole(rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s", role.Name, who.Name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{who},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
