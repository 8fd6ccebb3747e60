package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orphansweep/orphans/internal/testenv"
)

// Main is the bench command (hack/bench): with "baseline" as its first
// argument it is the naive sweep the harness starts, otherwise it runs the
// harness and writes the report. args are the command's arguments without
// the program name; it returns the exit code.
//
//	bench --exporter PATH [--sizes=1000x100000,...] [--sweeps=20] [--out=docs/BENCHMARKS.md]
//	bench baseline ...
func Main(args []string) int {
	if len(args) > 0 && args[0] == "baseline" {
		return BaselineMain(args[1:])
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		sizes    = fs.String("sizes", "1000x100000,10000x100000,10000x1000000,50000x5000000", "comma-separated NAMESPACESxROWS")
		only     = fs.String("exporter-only", "", "comma-separated NAMESPACESxROWS measured without the baseline (scaling points)")
		sweeps   = fs.Int("sweeps", 20, "sweeps measured per program and size")
		interval = fs.Duration("interval", time.Second, "sweep interval of both programs")
		exporter = fs.String("exporter", "", "orphans-exporter binary (go build ./exporter)")
		out      = fs.String("out", "", "write the report to this file (Markdown)")
		workers  = fs.Int("workers", 8, "concurrent clients creating namespaces")
		goBench  = fs.String("go-bench", "go", "go command to run the pure decision's benchmarks with; empty to skip")
	)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	parsed, err := ParseSizes(*sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	var exporterOnly []Size
	if *only != "" {
		if exporterOnly, err = ParseSizes(*only); err != nil {
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
	command := strings.Join(append([]string{os.Args[0]}, args...), " ")
	if os.Getenv("MAKELEVEL") != "" {
		command = "make bench` (runs `" + command
	}
	write := func(rep *Report) error {
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
	rep, err := Run(ctx, Options{
		Sizes: parsed, ExporterOnly: exporterOnly, Sweeps: *sweeps, Interval: *interval, ExporterBinary: exe,
		Baseline: []string{self, "baseline"}, Workers: *workers, GoBench: *goBench, RepoRoot: root,
		Command: command, Progress: os.Stderr,
		Checkpoint: func(rep *Report) {
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
