package exporter

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/testenv"
)

// The exporter refuses to start when --contents.extra-resources names
// Secrets, in any spelling, with one line naming the flag.
func TestContentsNeverReadSecrets(t *testing.T) {
	for _, spelling := range []string{
		"v1/secrets", "/v1/secrets", "secrets", "core/v1/secrets", "Secrets", "v1/secrets ", "v1/Secret",
		"secrets.v1.", "apps/v1/deployments,v1/secrets", "postgresql.cnpg.io/v1/clusters, SECRETS",
	} {
		o, err := parse(t, "--contents.extra-resources="+spelling)
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Validate(envOf())
		if err == nil || !strings.Contains(err.Error(), "invalid --contents.extra-resources") ||
			!strings.Contains(err.Error(), "Secrets are never read") || strings.Contains(err.Error(), "\n") {
			t.Errorf("--contents.extra-resources=%q: err = %v, want one line refusing Secrets", spelling, err)
		}
	}
	o, err := parse(t, "--contents.extra-resources=postgresql.cnpg.io/v1/clusters,v1/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	c, err := o.Validate(envOf())
	if err != nil || len(c.Contents.Extra) != 2 {
		t.Fatalf("two extra resources: %+v, %v", c.Contents.Extra, err)
	}
}

// The exporter's role grants list on exactly what the contents reader
// lists: a kind read without its rule would fail every candidate's read,
// a rule without a read would be a permission nobody needs.
func TestExporterRulesListWhatContentsRead(t *testing.T) {
	read := map[string]bool{"/pods": true, "/persistentvolumeclaims": true}
	for _, gvr := range kube.ChangeResources {
		read[gvr.Group+"/"+gvr.Resource] = true
	}
	granted := map[string]bool{}
	for _, r := range testenv.ExporterRules() {
		if !slices.Equal(r.Verbs, []string{"list"}) {
			continue
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				granted[g+"/"+res] = true
			}
		}
	}
	if !maps.Equal(read, granted) {
		t.Fatalf("the contents reader lists %v, the exporter's role grants list on %v", slices.Sorted(maps.Keys(read)), slices.Sorted(maps.Keys(granted)))
	}
}

// The contents readers' limits follow from the flags: the loop reads no
// more namespaces per interval than its rate lets through, its reads wait
// for each other within their deadline, and the fresh checks' reader lets
// as many reads through at once as fresh checks run.
func TestContentsReadLimits(t *testing.T) {
	for _, tc := range []struct {
		args                []string
		perNamespace        int
		budget              int
		loopTimeout         time.Duration
		freshQPS            float32
		freshBurst          int
		freshTimeoutDefault bool
	}{
		// 5 requests a second for 5 minutes, 12 requests a namespace: 125.
		{nil, 12, 125, 10*time.Second + 9600*time.Millisecond, 10, 4 * 12, true},
		{[]string{"--contents.budget=50"}, 12, 50, 10*time.Second + 9600*time.Millisecond, 10, 48, true},
		{[]string{"--contents.qps=40", "--contents.interval=10m"}, 12, 1000, 10*time.Second + 1200*time.Millisecond, 10, 48, true},
		{[]string{"--contents.interval=1s", "--contents.qps=1", "--contents.concurrency=1"}, 12, 1, 22 * time.Second, 10, 48, true},
		{[]string{"--contents.extra-resources=example.com/v1/redises", "--contents.fresh-qps=2.5", "--kubernetes.timeout=3s"}, 13, 115,
			3*time.Second + 10400*time.Millisecond, 2.5, 52, false},
	} {
		o, err := parse(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := o.Validate(envOf())
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Contents.RequestsPerNamespace(); got != tc.perNamespace {
			t.Errorf("%v: %d requests a namespace, want %d", tc.args, got, tc.perNamespace)
		}
		if c.ContentsBudget != tc.budget || c.Contents.Timeout != tc.loopTimeout {
			t.Errorf("%v: the loop reads %d namespaces an interval with a deadline of %s, want %d and %s", tc.args,
				c.ContentsBudget, c.Contents.Timeout, tc.budget, tc.loopTimeout)
		}
		f := c.FreshContents
		if f.QPS != tc.freshQPS || f.Burst != tc.freshBurst || f.Timeout != o.KubeTimeout || tc.freshTimeoutDefault && f.Timeout != 10*time.Second ||
			!slices.Equal(f.Extra, c.Contents.Extra) || !slices.Equal(f.IgnoreManagers, c.Contents.IgnoreManagers) {
			t.Errorf("%v: the fresh checks' reader %+v, want %v requests a second in bursts of %d", tc.args, f, tc.freshQPS, tc.freshBurst)
		}
		if f.QPS == c.Contents.QPS && f.Burst == c.Contents.Burst {
			t.Errorf("%v: the fresh checks' reader is limited as the loop's", tc.args)
		}
	}
	for _, bad := range []string{"--contents.fresh-qps=0", "--contents.fresh-qps=-1"} {
		o, err := parse(t, bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Validate(envOf()); err == nil || !strings.Contains(err.Error(), "invalid --contents.fresh-qps") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}
