package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SoakMain is the soak command (hack/soak): it runs RunSoak and rewrites
// the soak's section of --out, leaving the rest of it as it was. args are
// the command's arguments without the program name; it returns the exit
// code.
//
//	soak --exporter PATH [--duration=20m] [--size=5000x500000] [--out=docs/BENCHMARKS.md]
func SoakMain(args []string) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var (
		size     = fs.String("size", "5000x500000", "NAMESPACESxROWS of the fleet")
		duration = fs.Duration("duration", 20*time.Minute, "how long the exporter runs under churn")
		interval = fs.Duration("interval", 2*time.Second, "the exporter's sweep interval")
		churn    = fs.Duration("churn", 2*time.Second, "time between two rounds of changes")
		outage   = fs.Duration("outage", 30*time.Second, "how long PostgreSQL, then the API server, stay down")
		settle   = fs.Duration("settle", 2*time.Second, "how long before a sweep a change must be done for the sweep to be held to it")
		sample   = fs.Duration("sample", time.Minute, "time between two samples of the exporter's resources")
		exporter = fs.String("exporter", "", "orphans-exporter binary (go build ./exporter)")
		workers  = fs.Int("workers", 8, "concurrent clients creating namespaces")
		out      = fs.String("out", "", "rewrite the soak's section of this file (Markdown)")
		workDir  = fs.String("workdir", "", "keep kubeconfigs and the exporter's log here (a temporary directory, removed, when empty)")
	)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	sizes, err := ParseSizes(*size)
	if err != nil || len(sizes) != 1 {
		fmt.Fprintln(os.Stderr, "soak: --size: want one NAMESPACESxROWS")
		return 2
	}
	exe, err := filepath.Abs(*exporter)
	if *exporter == "" || err != nil {
		fmt.Fprintln(os.Stderr, "soak: --exporter is required (go build -o PATH ./exporter)")
		return 2
	}
	target := ""
	if os.Getenv("MAKELEVEL") != "" {
		target = "soak"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := RunSoak(ctx, SoakOptions{
		Size: sizes[0], Duration: *duration, Interval: *interval, Churn: *churn, Outage: *outage, Settle: *settle, Sample: *sample,
		ExporterBinary: exe, Workers: *workers, WorkDir: *workDir, Make: target,
		Command: strings.Join(append([]string{os.Args[0]}, args...), " "),
		Progress: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	if *workDir != "" {
		raw, err := json.MarshalIndent(s, "", " ")
		if err == nil {
			err = os.WriteFile(filepath.Join(*workDir, "soak.json"), raw, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
		}
	}
	section := s.Markdown()
	fmt.Print(section)
	if *out == "" {
		return 0
	}
	old, err := os.ReadFile(*out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	if err := os.WriteFile(*out, []byte(ReplaceSection(string(old), section, PureDecisionHeading, TargetsHeading)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	return 0
}
