// Package plugin holds the commands of kubectl-orphans: `kubectl orphans
// list`, `ghosts`, `plan`, `plan show`, `reclaim` and `version`. Each
// command is an options struct with Complete, Validate and Run, writing
// only to the injected IOStreams.
package plugin

import (
	"flag"
	"fmt"

	"github.com/prometheus/common/version"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/orphansweep/orphans/internal/exporterclient"

	// Auth plugins (OIDC, exec, cloud providers) for every kubeconfig kubectl accepts.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// Program is the binary's name; kubectl finds it on PATH as `kubectl orphans`.
const Program = "kubectl-orphans"

// RootOptions are the flags every command shares.
type RootOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags
	Exporter    *ExporterFlags
	genericiooptions.IOStreams

	// flags are the root's persistent flags, to tell a flag given from
	// its default.
	flags *pflag.FlagSet
}

// NewRootOptions returns the defaults.
func NewRootOptions(streams genericiooptions.IOStreams) *RootOptions {
	return &RootOptions{
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		Exporter:    NewExporterFlags(),
		IOStreams:   streams,
	}
}

// userAgent identifies the plugin in the API server's audit log and the
// exporter's access log.
func userAgent() string { return Program + "/" + version.Version }

// exporterClient validates the exporter flags and returns their client. It
// refuses a first hop that anybody on the path could read or impersonate:
// every answer of the exporter carries tenant tokens (and every request
// the caller's credentials), and reclaim acts on its verdicts.
func (o *RootOptions) exporterClient() (*exporterclient.Client, error) {
	if err := o.applyNamespace(); err != nil {
		return nil, err
	}
	cfg, err := o.Exporter.Config(o.ConfigFlags, userAgent())
	if err != nil {
		return nil, err
	}
	c, err := exporterclient.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.CheckFirstHop(); err != nil {
		return nil, fmt.Errorf("refusing to read the exporter: %w; its answers carry every tenant token, so it must be reached over https with a verified certificate, or on a loopback address", err)
	}
	return c, nil
}

// applyNamespace gives kubectl's -n/--namespace its one meaning here: the
// namespace of the exporter, reached through the service proxy. It is
// refused where it would mean nothing, never ignored.
func (o *RootOptions) applyNamespace() error {
	ns := ""
	if o.ConfigFlags.Namespace != nil {
		ns = *o.ConfigFlags.Namespace
	}
	switch {
	case ns == "":
		return nil
	case o.Exporter.URL != "":
		return fmt.Errorf("-n/--namespace %q names the exporter's namespace, for the service proxy; with --exporter-url it means nothing", ns)
	case o.flags != nil && o.flags.Changed("exporter-namespace") && o.Exporter.Namespace != ns:
		return fmt.Errorf("-n/--namespace %q and --exporter-namespace %q name different namespaces for the exporter", ns, o.Exporter.Namespace)
	}
	o.Exporter.Namespace = ns
	return nil
}

// clientset returns a typed client for the current kube context.
func (o *RootOptions) clientset() (kubernetes.Interface, error) {
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent()
	return kubernetes.NewForConfig(cfg)
}

// NewCmdOrphans returns the root command.
func NewCmdOrphans(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewRootOptions(streams)
	cmd := &cobra.Command{
		Use:   "orphans",
		Short: "Review and reclaim orphaned tenant namespaces",
		Long: `Review and reclaim orphaned tenant namespaces: namespaces whose owning ledger record
is gone or terminal, as found by the orphans exporter.

Commands:
  list       the exporter's latest sweep: candidates, reclaimable or not
  ghosts     live ledger rows without a namespace (read-only)
  plan       write a plan of namespaces to reclaim, registered with the platform
  plan show  review a plan against fresh verdicts
  reclaim    ask the platform's audited deprovision API to tear down namespaces
             the exporter marks reclaimable, one at a time, after a fresh check
             of each; it never deletes anything itself
  version    the plugin's version

The exporter is reached through the API server's service proxy by default, in
the namespace -n/--namespace (or --exporter-namespace) names, so Kubernetes RBAC
decides who may read it, or directly with --exporter-url. -v sets client-go's
log verbosity.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl orphans"},
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare `kubectl orphans` shows help rather than failing.
		Run: func(cmd *cobra.Command, _ []string) { _ = cmd.Help() },
	}
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)

	flags := cmd.PersistentFlags()
	o.ConfigFlags.AddFlags(flags)
	o.Exporter.AddFlags(flags)
	o.flags = flags
	// -v is klog's, which client-go logs through, as in kubectl.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	flags.AddGoFlag(klogFlags.Lookup("v"))

	cmd.AddCommand(NewCmdList(o), NewCmdGhosts(o), NewCmdPlan(o), NewCmdReclaim(o), NewCmdVersion(o))
	return cmd
}

// SafeError is err's message with tenant tokens masked, for the one place
// that prints errors.
func SafeError(err error) string { return newMasker().Text(err.Error()) }
