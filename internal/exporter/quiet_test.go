//go:build integration

package exporter

import (
	"context"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "redis"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis"}}, RestartPolicy: corev1.RestartPolicyAlways},
	}
}

// Every way a tenant or an operator changes a namespace by hand moves
// last_change_at, on the real API server: kubectl scale (an entry the API
// server writes without a time, dated by its first sighting and by every
// generation it moves to), kubectl debug, and objects of each kind the
// reader lists. After each, the quiet period holds reclaim back, and is
// earned again once it has passed.
func TestQuietPeriodSeesEveryChange(t *testing.T) {
	ctx := context.Background()
	const pfx = "quiet-customer-"
	const tok = "c0e70000-0000-4000-8000-0000000000a1"
	ns := pfx + tok
	if err := testenv.InsertRows(ctx, ledgerDSN, []testenv.Row{{Token: tok, Status: "deleted", ResourceType: "redis"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := createNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}}
	if _, err := admin.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: selector, Template: podTemplate()}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "redis"},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: selector, ServiceName: "redis", Template: podTemplate()}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sh", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fleetGrace)

	const quiet = 2 * time.Second
	r := start(t, testConfig(t, exporterUser(t, "exporter-quiet"), destructiveEnv(),
		"--namespace.prefix="+pfx, "--sweep.confirmations=1", "--ghosts.interval=0s", "--reclaim.quiet-period="+quiet.String()))
	r.sweep()

	fresh := func() api.Candidate {
		t.Helper()
		var c api.Candidate
		if code := r.getJSON(t, "/candidates/"+ns, &c); code != http.StatusOK || c.Contents == nil || c.Contents.Error != "" {
			t.Fatalf("fresh check: %d %+v %+v", code, c, c.Contents)
		}
		return c
	}
	// quietAgain waits until the quiet period has passed since the last
	// change, and returns that change: a change counted once, not on every
	// read.
	quietAgain := func(what string) time.Time {
		t.Helper()
		var c api.Candidate
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := testenv.WaitFor(waitCtx, func() (bool, error) { c = fresh(); return c.Reclaimable, nil }); err != nil {
			t.Fatalf("%s: never quiet again: %+v %+v", what, c, c.Contents)
		}
		return c.Contents.LastChangeAt
	}
	last := quietAgain("before any change")

	scale := func(kind string, update func(*autoscalingv1.Scale) error, replicas int32) func() error {
		return func() error {
			return update(&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: kind, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}})
		}
	}
	deploymentScale := func(s *autoscalingv1.Scale) error {
		_, err := admin.AppsV1().Deployments(ns).UpdateScale(ctx, "web", s, metav1.UpdateOptions{})
		return err
	}
	statefulSetScale := func(s *autoscalingv1.Scale) error {
		_, err := admin.AppsV1().StatefulSets(ns).UpdateScale(ctx, "redis", s, metav1.UpdateOptions{})
		return err
	}
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"kubectl scale deployment", scale("web", deploymentScale, 3)},
		// The same entry again, still without a time: the generation moved.
		{"kubectl scale deployment again", scale("web", deploymentScale, 5)},
		{"kubectl scale statefulset", scale("redis", statefulSetScale, 2)},
		{"kubectl debug", func() error {
			p, err := admin.CoreV1().Pods(ns).Get(ctx, "shell", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debugger", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
			_, err = admin.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, "shell", p, metav1.UpdateOptions{})
			return err
		}},
		{"a Job", func() error {
			tpl := podTemplate()
			tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
			_, err := admin.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "dump"},
				Spec: batchv1.JobSpec{Template: tpl}}, metav1.CreateOptions{})
			return err
		}},
		{"a CronJob", func() error {
			tpl := podTemplate()
			tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
			_, err := admin.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "backup"},
				Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tpl}}}}, metav1.CreateOptions{})
			return err
		}},
		{"an Ingress", func() error {
			_, err := admin.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}, metav1.CreateOptions{})
			return err
		}},
		{"a ServiceAccount", func() error {
			_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{})
			return err
		}},
		{"a RoleBinding", func() error {
			_, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ci-view"},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci", Namespace: ns}}}, metav1.CreateOptions{})
			return err
		}},
	} {
		// Times in managedFields have whole seconds.
		time.Sleep(time.Until(last.Add(1100 * time.Millisecond)))
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		c := fresh()
		if c.Reclaimable || c.NotReclaimableReason != api.NotReclaimableRecentChange || !c.Contents.LastChangeAt.After(last) {
			t.Fatalf("after %s: reclaimable %v (%s), last change %v, before %v", step.what, c.Reclaimable, c.NotReclaimableReason,
				c.Contents.LastChangeAt, last)
		}
		// The contents loop's reads date the change as the fresh check did.
		r.contents.round(ctx, true)
		r.sweeper.SweepOnce(ctx)
		if got := candidateOf(t, r, ns); got.Contents == nil || !got.Contents.LastChangeAt.Equal(c.Contents.LastChangeAt) ||
			got.Reclaimable && time.Since(c.Contents.LastChangeAt) < quiet {
			t.Fatalf("after %s: the sweep's contents %+v, the fresh check's last change %v", step.what, got.Contents, c.Contents.LastChangeAt)
		}
		if last = quietAgain(step.what); !last.Equal(c.Contents.LastChangeAt) {
			t.Fatalf("after %s: the change moved from %v to %v with nothing changed", step.what, c.Contents.LastChangeAt, last)
		}
	}
}
