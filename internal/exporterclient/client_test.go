package exporterclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/orphansweep/orphans/internal/transport"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"0":                             0,
		"2":                             2 * time.Second,
		" 3 ":                           3 * time.Second,
		"":                              time.Second,
		"-1":                            time.Second,
		"soon":                          time.Second,
		"Wed, 02 Dec 2026 10:00:05 GMT": 5 * time.Second,
		"Wed, 02 Dec 2026 09:00:00 GMT": 0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestCheckRetriesA429ThreeTimes(t *testing.T) {
	var calls atomic.Int32
	busyFor := int32(3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= busyFor {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"too many fresh checks"}`))
			return
		}
		_, _ = w.Write([]byte(`{"namespace":"instant-customer-a","reclaimable":true}`))
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Check(context.Background(), "instant-customer-a")
	if err != nil || v.Candidate == nil || calls.Load() != 4 {
		t.Fatalf("verdict %+v, err %v, %d calls", v, err, calls.Load())
	}
	calls.Store(0)
	busyFor = 100
	_, err = c.Check(context.Background(), "instant-customer-a")
	var xe *Error
	if !errors.As(err, &xe) || xe.StatusCode != http.StatusTooManyRequests || calls.Load() != 4 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	// A long Retry-After is capped, and a cancelled context ends the wait.
	c.maxWait = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	if _, err := c.Check(ctx, "instant-customer-a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

func TestCheckFirstHop(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://127.0.0.1:9866"}, ""},
		{Config{URL: "http://localhost:9866"}, ""},
		{Config{URL: "https://exporter.example"}, ""},
		{Config{URL: "http://exporter.example:9866"}, "plain http"},
		{Config{URL: "https://exporter.example", TLS: transport.TLSFiles{InsecureSkipVerify: true}}, "without verifying"},
		{Config{Proxy: &Proxy{REST: &rest.Config{Host: "https://api.example:6443"}, Namespace: "orphans-system", Service: "http:orphans-exporter:api"}}, ""},
		{Config{Proxy: &Proxy{REST: &rest.Config{Host: "https://api.example:6443", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Namespace: "n", Service: "s"}}, "API server"},
		{Config{Proxy: &Proxy{REST: &rest.Config{Host: "http://api.example:8080"}, Namespace: "n", Service: "s"}}, "plain http"},
		{Config{Proxy: &Proxy{REST: &rest.Config{Host: "http://127.0.0.1:8080"}, Namespace: "n", Service: "s"}}, ""},
	} {
		c, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckFirstHop()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
