package kube

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Secrets are refused in every spelling, at start, in one line; the other
// resources parse to what the API server serves.
func TestParseResource(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    schema.GroupVersionResource
		secrets bool // refused as Secrets
		bad     bool // refused as malformed
	}{
		{in: "v1/services", want: schema.GroupVersionResource{Version: "v1", Resource: "services"}},
		{in: "/v1/services", want: schema.GroupVersionResource{Version: "v1", Resource: "services"}},
		{in: "core/v1/endpoints", want: schema.GroupVersionResource{Version: "v1", Resource: "endpoints"}},
		{in: " postgresql.cnpg.io/v1/clusters ", want: schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}},
		{in: "databases.example.com/v1alpha1/redisfailovers", want: schema.GroupVersionResource{Group: "databases.example.com", Version: "v1alpha1", Resource: "redisfailovers"}},

		{in: "v1/secrets", secrets: true},
		{in: "/v1/secrets", secrets: true},
		{in: "secrets", secrets: true},
		{in: "core/v1/secrets", secrets: true},
		{in: "Secrets", secrets: true},
		{in: "v1/secrets ", secrets: true},
		{in: " v1 / secrets", secrets: true},
		{in: "v1/Secrets", secrets: true},
		{in: "/v1/SECRETS", secrets: true},
		{in: "v1/secret", secrets: true},
		{in: "secret", secrets: true},
		{in: "secrets.v1.", secrets: true},
		{in: "secrets.v1.core", secrets: true},
		{in: "v2/secrets", secrets: true},
		{in: "example.com/v1/secrets", secrets: true},
		{in: "a/b/c/secrets", secrets: true},

		{in: "services", bad: true},
		{in: "", bad: true},
		{in: "v1/", bad: true},
		{in: "/services", bad: true},
		{in: "apps//deployments", bad: true},
		{in: "apps/v1/deployments/scale", bad: true},
		{in: "v1/Pods", bad: true},
		{in: "Apps/v1/deployments", bad: true},
		{in: "apps/V1/deployments", bad: true},
		{in: "v1/sealedsecrets.bitnami.com", bad: true},
	} {
		got, err := ParseResource(tc.in)
		switch {
		case tc.secrets || tc.bad:
			if err == nil {
				t.Errorf("ParseResource(%q) = %v, want an error", tc.in, got)
				continue
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseResource(%q): the error is not one line: %q", tc.in, err)
			}
			if isSecrets := strings.Contains(err.Error(), "Secrets are never read"); isSecrets != tc.secrets {
				t.Errorf("ParseResource(%q): %v; refused as Secrets %v, want %v", tc.in, err, isSecrets, tc.secrets)
			}
		case err != nil:
			t.Errorf("ParseResource(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseResource(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func entry(manager, subresource string, at *time.Time) metav1.ManagedFieldsEntry {
	e := metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource}
	if at != nil {
		e.Time = &metav1.Time{Time: *at}
	}
	return e
}

func object(uid string, generation int64, created time.Time, controlled bool, fields ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		UID: types.UID(uid), Generation: generation, CreationTimestamp: metav1.Time{Time: created}, ManagedFields: fields,
	}}
	if controlled {
		yes := true
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "redis", UID: "owner", Controller: &yes}}
	}
	return m
}

// What counts as a change inside a namespace, object by object.
func TestChangesSee(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { t := base.Add(time.Duration(h) * time.Hour); return &t }
	now := base.Add(100 * time.Hour)
	for _, tc := range []struct {
		name string
		obj  *metav1.PartialObjectMetadata
		want time.Time // zero: nothing counts
	}{
		{"creation of an object no controller owns", object("a", 1, *at(1), false), *at(1)},
		{"an update without a subresource", object("a", 1, *at(1), false, entry("kubectl", "", at(5))), *at(5)},
		{"a status update is not a change", object("a", 1, *at(1), false, entry("kubelet", "status", at(9))), *at(1)},
		{"an unknown subresource is not a change", object("a", 1, *at(1), false, entry("x", "resize", at(9))), *at(1)},
		{"an ignored manager's update", object("a", 1, *at(1), false, entry("argocd", "", at(9))), *at(1)},
		{"a scale of an object no controller owns", object("a", 1, *at(1), false, entry("kubectl", "scale", at(7))), *at(7)},
		{"kubectl debug of an object no controller owns", object("a", 1, *at(1), false, entry("kubectl", "ephemeralcontainers", at(8))), *at(8)},
		{"a controller's object: creation and updates do not count", object("a", 1, *at(1), true, entry("kubectl", "", at(5))), time.Time{}},
		{"a controller's pod debugged counts", object("a", 2, *at(1), true, entry("kube-controller-manager", "", at(1)), entry("kubectl", "ephemeralcontainers", at(6))), *at(6)},
		{"a controller's object scaled counts", object("a", 2, *at(1), true, entry("kubectl", "scale", at(4))), *at(4)},
		{"an ignored manager's scale", object("a", 2, *at(1), false, entry("hpa", "scale", nil)), *at(1)},
		{"a scale without a time is seen now", object("a", 2, *at(1), false, entry("kubectl", "scale", nil), entry("kubectl", "", at(3))), now},
		{"a status entry without a time is not a change", object("a", 2, *at(1), false, entry("kubelet", "status", nil)), *at(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Contents{ignore: []string{"argocd", "hpa"}, sightings: NewSightings()}
			r := &changes{c: c, namespace: "ns", now: now, timeless: map[types.UID]bool{}}
			r.see(tc.obj)
			if !r.last.Equal(tc.want) {
				t.Fatalf("last change %v, want %v", r.last, tc.want)
			}
		})
	}
}

// An entry without a time dates the change by its first sighting, and
// again whenever the generation moves; an object gone from a complete read,
// or a namespace forgotten, is seen anew.
func TestSightings(t *testing.T) {
	s := NewSightings()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if got := s.at("ns", "d", 2, t0); !got.Equal(t0) {
		t.Fatalf("first sighting %v, want %v", got, t0)
	}
	if got := s.at("ns", "d", 2, t0.Add(time.Hour)); !got.Equal(t0) {
		t.Fatalf("same generation an hour later: %v, want the first sighting %v", got, t0)
	}
	// A second scale rewrites the same entry; only the generation moved.
	if got := s.at("ns", "d", 3, t0.Add(2*time.Hour)); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("after the generation moved: %v", got)
	}
	if got := s.at("other", "d", 3, t0.Add(3*time.Hour)); !got.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("the same UID in another namespace: %v", got)
	}
	s.at("ns", "e", 1, t0)
	s.keep("ns", map[types.UID]bool{"d": true})
	if got := s.at("ns", "e", 1, t0.Add(4*time.Hour)); !got.Equal(t0.Add(4 * time.Hour)) {
		t.Fatalf("an object gone from a complete read was remembered: %v", got)
	}
	if got := s.at("ns", "d", 3, t0.Add(4*time.Hour)); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("an object still there was forgotten: %v", got)
	}
	s.Forget(func(ns string) bool { return ns == "ns" })
	if _, ok := s.byNamespace["other"]; ok || len(s.byNamespace) != 1 {
		t.Fatalf("after Forget: %v", s.byNamespace)
	}
	s.keep("ns", nil)
	if len(s.byNamespace) != 0 {
		t.Fatalf("an empty namespace is still held: %v", s.byNamespace)
	}
	var none *Sightings
	none.Forget(func(string) bool { return false }) // a reader without sightings
}
