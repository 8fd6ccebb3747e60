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
//	bench --exporter PATH [--sizes=1000x100000,...] [--features=10000x1000000] [--sweeps=20] [--out=docs/BENCHMARKS.md]
//	bench --exporter PATH --features-only [--features=10000x1000000] [--out=docs/BENCHMARKS.md]
//	bench --exporter PATH --fresh-only [--fresh=100000x1000000] [--out=docs/BENCHMARKS.md]
//	bench baseline ...
//
// With --features-only it measures the ghost sweep and contents alone and
// rewrites only their section of --out, leaving the rest of it as it was;
// --fresh-only likewise measures fresh checks alone.
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
		features = fs.String("features", "10000x1000000", "NAMESPACESxROWS at which the ghost sweep and contents are measured; empty to skip")
		featOnly = fs.Bool("features-only", false, "measure only the ghost sweep and contents, and rewrite only their section of --out")
		fresh    = fs.String("fresh", "100000x1000000", "NAMESPACESxROWS at which fresh checks are measured while the contents loop reads; empty to skip")
		frOnly   = fs.Bool("fresh-only", false, "measure only the fresh checks, and rewrite only their section of --out")
		ghostInt = fs.Duration("ghost-interval", 10*time.Second, "--ghosts.interval of the exporter when the ghost sweep is measured")
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
	var featureSize *Size
	if *features != "" {
		one, err := ParseSizes(*features)
		if err != nil || len(one) != 1 {
			fmt.Fprintln(os.Stderr, "bench: --features: want one NAMESPACESxROWS")
			return 2
		}
		featureSize = &one[0]
	}
	var freshSize *Size
	if *fresh != "" {
		one, err := ParseSizes(*fresh)
		if err != nil || len(one) != 1 {
			fmt.Fprintln(os.Stderr, "bench: --fresh: want one NAMESPACESxROWS")
			return 2
		}
		freshSize = &one[0]
	}
	if *featOnly && *frOnly {
		fmt.Fprintln(os.Stderr, "bench: --features-only and --fresh-only exclude each other")
		return 2
	}
	if *featOnly {
		if featureSize == nil {
			fmt.Fprintln(os.Stderr, "bench: --features-only needs --features")
			return 2
		}
		parsed, *only, *goBench, freshSize = nil, "", "", nil
	}
	if *frOnly {
		if freshSize == nil {
			fmt.Fprintln(os.Stderr, "bench: --fresh-only needs --fresh")
			return 2
		}
		parsed, *only, *goBench, featureSize = nil, "", "", nil
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
	target := ""
	if os.Getenv("MAKELEVEL") != "" {
		target = "bench"
		if *featOnly {
			target = "bench-features"
		}
		if *frOnly {
			target = "bench-fresh"
		}
	}
	// text is what the run writes: the whole report, or with
	// --features-only the features' section in the report already in --out.
	// The soak's section, written by `make soak`, is kept either way.
	text := func(rep *Report) (string, error) {
		var old []byte
		if *out != "" {
			var err error
			if old, err = os.ReadFile(*out); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", err
			}
		}
		var section string
		switch {
		case *featOnly && rep.Features != nil:
			section = rep.Features.Markdown(rep.Options, rep.Machine)
		case *frOnly && rep.Fresh != nil:
			section = rep.Fresh.Markdown(rep.Options, rep.Machine)
		case *featOnly || *frOnly:
			return "", errors.New("nothing measured")
		default:
			doc := rep.Markdown()
			kept := []string{SoakHeading}
			if rep.Fresh == nil {
				kept = append(kept, FreshHeading)
			}
			for _, heading := range kept {
				if sec, ok := Section(string(old), heading); ok {
					doc = ReplaceSection(doc, sec, PureDecisionHeading, TargetsHeading)
				}
			}
			return doc, nil
		}
		if *out == "" {
			return section, nil
		}
		return ReplaceSection(string(old), section, PureDecisionHeading, TargetsHeading), nil
	}
	write := func(rep *Report) error {
		if *out == "" || *featOnly && rep.Features == nil || *frOnly && rep.Fresh == nil {
			return nil
		}
		doc, err := text(rep)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(*out, []byte(doc), 0o644)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, Options{
		Sizes: parsed, ExporterOnly: exporterOnly, Features: featureSize, Fresh: freshSize, GhostInterval: *ghostInt, Sweeps: *sweeps, Interval: *interval,
		ExporterBinary: exe, Baseline: []string{self, "baseline"}, Workers: *workers, GoBench: *goBench, RepoRoot: root,
		Command: command, Make: target, Progress: os.Stderr,
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
	switch {
	case *featOnly:
		fmt.Print(rep.Features.Markdown(rep.Options, rep.Machine))
	case *frOnly:
		fmt.Print(rep.Fresh.Markdown(rep.Options, rep.Machine))
	default:
		fmt.Print(rep.Markdown())
	}
	if err := write(rep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}
