// Command orphans-exporter finds orphaned tenant namespaces and exports them
// as Prometheus metrics and JSON. It never deletes anything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/orphansweep/orphans/internal/exporter"
)

func main() {
	app := kingpin.New(exporter.Name, "Finds tenant namespaces whose ledger record is gone or terminal, and exports them. Audit-only.")
	app.Version(version.Print(exporter.Name))
	app.HelpFlag.Short('h')
	var opts exporter.Options
	opts.AddFlags(app)
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)
	kingpin.MustParse(app.Parse(os.Args[1:]))

	cfg, err := opts.Validate(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporter.Name, err)
		os.Exit(2)
	}
	log := exporter.NewLogger(logCfg, cfg.Redactor())
	exporter.RouteKlog(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := exporter.Run(ctx, cfg, log); err != nil {
		log.Error("exporter.failed", "err", err)
		os.Exit(1)
	}
}
