// Command soak runs orphans-exporter for a long while on a churning fleet,
// with a PostgreSQL and an API server restart, judges every sweep and
// rewrites the soak's section of docs/BENCHMARKS.md; `make soak` runs it.
// The harness is github.com/orphansweep/orphans/tests/bench.
//
//	soak --exporter PATH [--duration=20m] [--size=5000x500000] [--out=docs/BENCHMARKS.md]
package main

import (
	"os"

	"github.com/orphansweep/orphans/tests/bench"
)

func main() { os.Exit(bench.SoakMain(os.Args[1:])) }
