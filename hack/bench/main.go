// Command bench measures orphans-exporter against the naive sweep on the
// real test bed and writes docs/BENCHMARKS.md; `make bench` runs it. The
// harness is github.com/orphansweep/orphans/tests/bench.
//
//	bench --exporter PATH [--sizes=1000x100000,...] [--sweeps=20] [--out=docs/BENCHMARKS.md]
//	bench baseline ...    the naive sweep itself, started by the harness
package main

import (
	"os"

	"github.com/orphansweep/orphans/tests/bench"
)

func main() { os.Exit(bench.Main(os.Args[1:])) }
