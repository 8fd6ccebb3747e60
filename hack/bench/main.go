// Command bench measures orphans-exporter against the naive sweep on the
// real test bed and writes docs/BENCHMARKS.md; `make bench` runs it.
//
//	bench --exporter PATH [--sizes=1000x100000,...] [--sweeps=20] [--out=docs/BENCHMARKS.md]
//	bench baseline ...    the naive sweep itself, started by the harness
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orphansweep/orphans/internal/bench"
	"github.com/orphansweep/orphans/internal/testenv"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		os.Exit(bench.BaselineMain(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	var (
		sizes    = flag.String("sizes", "1000x100000,10000x100000,10000x1000000,50000x5000000", "comma-separated NAMESPACESxROWS")
		only     = flag.String("exporter-only", "", "comma-separated NAMESPACESxROWS measured without the baseline (scaling points)")
		sweeps   = flag.Int("sweeps", 20, "sweeps measured per program and size")
		interval = flag.Duration("interval", time.Second, "sweep interval of both programs")
		exporter = flag.String("exporter", "", "orphans-exporter binary (go build ./exporter)")
		out      = flag.String("out", "", "write the report to this file (Markdown)")
		workers  = flag.Int("workers", 8, "concurrent clients creating namespaces")
		goBench  = flag.String("go-bench", "go", "go command to run the pure decision's benchmarks with; empty to skip")
	)
	flag.Parse()
	parsed, err := bench.ParseSizes(*sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	var exporterOnly []bench.Size
	if *only != "" {
		if exporterOnly, err = bench.ParseSizes(*only); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	exe, err := filepath.Abs(*exporter)
	if *exporter == "" || err != nil {
		fmt.Fprintln(os.Stderr, "bench: --exporter is required (go build -o PATH ./exporter)")
		return 2
	}
	command := strings.Join(os.Args, " ")
	if os.Getenv("MAKELEVEL") != "" {
		command = "make bench` (runs `" + command
	}
	write := func(rep *bench.Report) error {
		if *out == "" {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(*out, []byte(rep.Markdown()), 0o644)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, bench.Options{
		Sizes: parsed, ExporterOnly: exporterOnly, Sweeps: *sweeps, Interval: *interval, ExporterBinary: exe,
		Baseline: []string{self, "baseline"}, Workers: *workers, GoBench: *goBench, RepoRoot: root,
		Command: command, Progress: os.Stderr,
		Checkpoint: func(rep *bench.Report) {
			if err := write(rep); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Print(rep.Markdown())
	if err := write(rep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}
