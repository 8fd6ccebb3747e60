package plugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/orphansweep/orphans/internal/testenv"
)

// TestDocsFollowTheFlags keeps docs/plugin.md in step with the commands:
// every flag of the plugin's own is documented, and every flag the page
// names exists.
func TestDocsFollowTheFlags(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "docs", "plugin.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(--[a-z][a-z-]*)").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}

	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdOrphans(streams)
	known := map[string]bool{}
	ours := map[string]bool{}
	exporterFlags := pflag.NewFlagSet("exporter", pflag.ContinueOnError)
	NewExporterFlags().AddFlags(exporterFlags)
	exporterFlags.VisitAll(func(f *pflag.Flag) { ours["--"+f.Name] = true })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				known["--"+f.Name] = true
				if c.Name() == "list" || c.Name() == "reclaim" || c.Name() == "plan" || c.Name() == "show" {
					ours["--"+f.Name] = true
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
	for f := range ours {
		if !documented[f] {
			t.Errorf("%s is not documented in docs/plugin.md", f)
		}
	}
	for f := range documented {
		if !known[f] {
			t.Errorf("docs/plugin.md names %s, which no command has", f)
		}
	}

	// Every command line of the walkthroughs names a real command and,
	// when it is ours, flags that command has.
	for _, m := range regexp.MustCompile("kubectl orphans ([^\\n|>#`]*)").FindAllStringSubmatch(doc, -1) {
		words := strings.Fields(strings.Trim(m[1], "`"))
		sub, rest, err := cmd.Find(words)
		if err != nil || sub == cmd {
			if len(words) > 0 && !strings.HasPrefix(words[0], "-") && !strings.HasPrefix(words[0], "…") {
				t.Errorf("docs/plugin.md runs %q: no such command", "kubectl orphans "+m[1])
			}
			continue
		}
		for _, w := range rest {
			if !strings.HasPrefix(w, "--") {
				continue
			}
			name := strings.SplitN(strings.TrimPrefix(w, "--"), "=", 2)[0]
			if sub.Flags().Lookup(name) == nil && sub.InheritedFlags().Lookup(name) == nil {
				t.Errorf("docs/plugin.md runs %q: %s has no flag --%s", "kubectl orphans "+m[1], sub.CommandPath(), name)
			}
		}
	}
}
