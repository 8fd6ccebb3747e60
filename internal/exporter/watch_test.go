//go:build integration

package exporter

import (
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

// TestWatchOutlivesRequestTimeout: --kubernetes.timeout bounds requests, not
// the namespace watch. A watch cut at the request timeout is re-opened at
// once, so a steady state would cost the API server a request per timeout
// and a large fleet's initial watch-list could never finish.
func TestWatchOutlivesRequestTimeout(t *testing.T) {
	const user = "exporter-watch"
	r := start(t, testConfig(t, exporterUser(t, user), enabledEnv(), "--kubernetes.timeout=1s"))
	watches := func() int {
		evs, err := cp.AuditEvents(func(e testenv.AuditEvent) bool {
			return e.User.Username == user && e.Verb == "watch" && e.IsRequest()
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	before := watches()
	if before == 0 {
		t.Fatal("no watch by the exporter in the audit log")
	}
	time.Sleep(3500 * time.Millisecond)
	if after := watches(); after != before {
		t.Fatalf("the namespace watch was opened %d more times in 3.5s with --kubernetes.timeout=1s", after-before)
	}
	r.sweep()
	if r.metric(t, "instant_orphan_db_sweep_up") != 1 {
		t.Fatal("sweep failed")
	}
}
