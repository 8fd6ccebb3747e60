package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/client-go/tools/cache"
)

// fakeInformer is an informer at a resource version the test sets.
type fakeInformer struct {
	cache.SharedIndexInformer
	rv string
}

func (f *fakeInformer) LastSyncResourceVersion() string { return f.rv }
func (f *fakeInformer) HasSynced() bool                 { return true }

// After a watch failure, a watch call that succeeds again is not enough:
// the cache is trusted once its resource version reaches the API server's,
// read after the failure. A failure meanwhile starts the wait again.
func TestNamespacesTrustedOnceCaughtUp(t *testing.T) {
	inf := &fakeInformer{rv: "100"}
	server, lists := "100", 0
	n := &Namespaces{informer: inf, timeout: 1e9, currentRV: func(context.Context) (string, error) {
		lists++
		return server, nil
	}}
	if err := n.Healthy(); err != nil || lists != 0 {
		t.Fatalf("before any failure: %v (%d lists)", err, lists)
	}

	n.observe(errors.New("connection refused"))
	if err := n.Healthy(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("while failing: %v", err)
	}
	// The API server is back and has moved on; the watch call succeeds.
	server = "150"
	n.observe(nil)
	if err := n.Healthy(); err == nil || !strings.Contains(err.Error(), "not caught up") {
		t.Fatalf("back, the cache at 100 and the API server at 150: %v", err)
	}
	inf.rv = "149"
	if err := n.Healthy(); err == nil {
		t.Fatal("healthy at 149 of 150")
	}
	inf.rv = "150"
	if err := n.Healthy(); err != nil {
		t.Fatalf("caught up at 150: %v", err)
	}
	listsThen := lists
	// Caught up is over: no more lists, whatever the versions.
	server = "900"
	if err := n.Healthy(); err != nil || lists != listsThen {
		t.Fatalf("after catching up: %v (%d more lists)", err, lists-listsThen)
	}

	// A failure while catching up starts it again, against a new list.
	n.observe(errors.New("reset"))
	n.observe(nil)
	server = "1000"
	inf.rv = "900"
	if err := n.Healthy(); err == nil {
		t.Fatal("healthy at 900 after a failure, the API server at 1000")
	}
	n.observe(errors.New("reset again"))
	n.observe(nil)
	server = "1200"
	inf.rv = "1000"
	if err := n.Healthy(); err == nil {
		t.Fatal("healthy at 1000 after a second failure, the API server at 1200")
	}
	inf.rv = "1201"
	if err := n.Healthy(); err != nil {
		t.Fatalf("past 1200: %v", err)
	}

	// A list that fails keeps the cache untrusted.
	n.observe(errors.New("reset"))
	n.observe(nil)
	n.currentRV = func(context.Context) (string, error) { return "", errors.New("forbidden") }
	if err := n.Healthy(); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("with the list failing: %v", err)
	}
}

func TestResourceVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"10", "9", true}, {"10", "10", true}, {"9", "10", false}, {"100", "99", true},
		{"abc", "abc", true}, {"abc", "abd", false}, {"", "1", false},
	} {
		if got := resourceVersionAtLeast(c.a, c.b); got != c.want {
			t.Errorf("resourceVersionAtLeast(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
