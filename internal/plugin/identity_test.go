package plugin

import (
	"strings"
	"testing"
)

// Plan and reclaim act in the caller's own name: no impersonation, nobody
// anonymous, and only on the cluster the exporter watches.
func TestPlanAndReclaimRefuseAnotherIdentity(t *testing.T) {
	for _, flags := range [][]string{
		{"--as", "bob@example.com"},
		{"--as-group", "system:masters"},
		{"--as-uid", "1234"},
	} {
		b := newReclaimBed(t, redis(1))
		_, _, err := run(t, append(append(b.planArgs(), "--all"), flags...)...)
		if err == nil || !strings.Contains(err.Error(), "refusing to plan with "+flags[0]) {
			t.Errorf("plan %v: %v", flags, err)
		}
		_, errOut, err := b.reclaim(append([]string{"--all"}, flags...)...)
		if err == nil || !strings.Contains(err.Error(), "refusing to reclaim with "+flags[0]) || len(b.dp.Requests()) > 0 {
			t.Errorf("reclaim %v: %v, %d requests\n%s", flags, err, len(b.dp.Requests()), errOut)
		}
	}

	for name, c := range map[string]struct {
		breakIt func(b *reclaimBed)
		want    string
	}{
		"anonymous":     {func(b *reclaimBed) { b.cluster.setUser(anonymous) }, "nobody who can be held to account"},
		"empty user":    {func(b *reclaimBed) { b.cluster.setUser("") }, "cannot tell who you are"},
		"other cluster": {func(b *reclaimBed) { b.cluster.systemUID = "99999999-2222-4333-8444-555555555555" }, "the exporter watches another cluster"},
	} {
		t.Run(name, func(t *testing.T) {
			b := newReclaimBed(t, redis(1))
			c.breakIt(b)
			out, _, err := run(t, append(b.planArgs(), "--all")...)
			if err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
				t.Errorf("plan: %v\n%s", err, out)
			}
			_, errOut, err := b.reclaim("--all")
			if err == nil || !strings.Contains(err.Error(), c.want) || len(b.dp.Requests()) > 0 {
				t.Errorf("reclaim: %v, %d requests\n%s", err, len(b.dp.Requests()), errOut)
			}
		})
	}
}
