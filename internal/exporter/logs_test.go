//go:build integration

package exporter

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/api"
)

// TestLogsNeverShowTokens runs the exporter through detection, fresh checks,
// a ledger outage and recovery, and reads every line it logged.
func TestLogsNeverShowTokens(t *testing.T) {
	ctx := context.Background()
	r := start(t, testConfig(t, exporterUser(t, "exporter-logs"), destructiveEnv()))
	r.sweep()
	for _, ns := range []string{prefix + tRedisDel, prefix + tActive, prefix + tNoRow, prefix + "5eed0000-0000-4000-8000-0000000000ee"} {
		var v map[string]any
		r.getJSON(t, "/candidates/"+ns, &v)
	}
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	r.sweep()
	var e api.Error
	r.getJSON(t, "/candidates/"+prefix+tPgExpired, &e)
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !r.Sweeper().Latest().OK && time.Now().Before(deadline) {
		r.sweep()
		time.Sleep(100 * time.Millisecond)
	}

	logs := r.logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	events := map[string]int{}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		events[rec["msg"].(string)]++
	}
	// The run logged what it should have; otherwise this test proves nothing.
	for _, ev := range []string{"candidate.detected", "sweep.failed", "check.failed", "sweep.completed"} {
		if events[ev] == 0 {
			t.Fatalf("no %s line among %d lines: %v", ev, len(lines), events)
		}
	}
	if !strings.Contains(logs, "5eed0000***") {
		t.Fatal("no masked token in the logs")
	}
	for _, tok := range append(fleetTokens, tNotUUID, "5eed0000-0000-4000-8000-0000000000ee") {
		if strings.Contains(logs, tok) {
			for _, l := range lines {
				if strings.Contains(l, tok) {
					t.Errorf("token %s in log line: %s", tok, l)
				}
			}
		}
	}
}
