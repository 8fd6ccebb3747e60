package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// GoBenchmark is one line of `go test -bench` output.
type GoBenchmark struct {
	Name       string
	Iterations int
	// Values by unit: ns/op, B/op, allocs/op, ns/namespace.
	Values map[string]float64
}

// goBenchPackage holds the pure decision's benchmarks.
const goBenchPackage = "./internal/sweep"

// runGoBench runs the pure decision's benchmarks and parses their results.
func runGoBench(ctx context.Context, goCmd, dir string) (string, []GoBenchmark, error) {
	cmd := exec.CommandContext(ctx, goCmd, "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", goBenchPackage)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", nil, fmt.Errorf("go test -bench %s: %w\n%s", goBenchPackage, err, out.String())
	}
	raw := out.String()
	return raw, parseGoBench(raw), nil
}

func parseGoBench(raw string) []GoBenchmark {
	var out []GoBenchmark
	for _, line := range strings.Split(raw, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		b := GoBenchmark{Name: trimProcs(f[0]), Iterations: iters, Values: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			b.Values[f[i+1]] = v
		}
		out = append(out, b)
	}
	return out
}

// trimProcs drops the -GOMAXPROCS suffix go test appends to a name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

func findGoBench(bs []GoBenchmark, name string) (GoBenchmark, bool) {
	for _, b := range bs {
		if b.Name == name {
			return b, true
		}
	}
	return GoBenchmark{}, false
}
