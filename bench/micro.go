package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// MicroResult is one line of `go test -bench -benchmem` output.
type MicroResult struct {
	Pkg         string             `json:"pkg"`
	Name        string             `json:"name"` // without "Benchmark" and the -GOMAXPROCS suffix
	Iterations  int                `json:"iterations"`
	NsPerOp     float64            `json:"ns_per_op"`
	BytesPerOp  float64            `json:"bytes_per_op"`
	AllocsPerOp float64            `json:"allocs_per_op"`
	Extra       map[string]float64 `json:"extra,omitempty"` // custom metrics (store-writes/op)
}

// MicroOptions tune RunMicro.
type MicroOptions struct {
	Root      string   // module root
	Packages  []string // ./labels ./actors
	Benchtime string   // go test -benchtime
	Short     bool     // go test -short (the smoke run)
	Log       io.Writer
}

// MicroCommand is the go test command line RunMicro runs.
func MicroCommand(o MicroOptions) []string {
	args := []string{"go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", "-timeout", "60m"}
	if o.Benchtime != "" {
		args = append(args, "-benchtime", o.Benchtime)
	}
	if o.Short {
		args = append(args, "-short")
	}
	return append(args, o.Packages...)
}

// RunMicro runs the packages' Go benchmarks and parses their results.
func RunMicro(ctx context.Context, o MicroOptions) ([]MicroResult, error) {
	args := MicroCommand(o)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = o.Root
	var out bytes.Buffer
	w := io.Writer(&out)
	if o.Log != nil {
		w = io.MultiWriter(&out, o.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return ParseBench(&out), nil
}

// ParseBench reads `go test -bench` output.
func ParseBench(r io.Reader) []MicroResult {
	var res []MicroResult
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "github.com/labelgate/labelgate/")
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 4 {
			continue
		}
		n, err := strconv.Atoi(fs[1])
		if err != nil {
			continue
		}
		name := strings.TrimPrefix(fs[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := MicroResult{Pkg: pkg, Name: name, Iterations: n}
		for i := 2; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				continue
			}
			switch fs[i+1] {
			case "ns/op":
				m.NsPerOp = v
			case "B/op":
				m.BytesPerOp = v
			case "allocs/op":
				m.AllocsPerOp = v
			default:
				if m.Extra == nil {
					m.Extra = map[string]float64{}
				}
				m.Extra[fs[i+1]] = v
			}
		}
		res = append(res, m)
	}
	return res
}

// ProfileCommand is the command that CPU-profiles the registry's per-snapshot
// work (BenchmarkRegistryApplySet and BenchmarkRegistryFlush).
func ProfileCommand(dir string) []string {
	return []string{"go", "test", "./actors", "-run", "^$", "-bench", "^BenchmarkRegistry(ApplySet|Flush)$", "-benchmem",
		"-count", "1", "-benchtime", "20x", "-cpuprofile", filepath.Join(dir, "registry.cpu.pprof"), "-o", filepath.Join(dir, "actors.test")}
}

// ProfileRegistry runs ProfileCommand and returns `go tool pprof -top` of
// the profile.
func ProfileRegistry(ctx context.Context, root, dir string) (string, error) {
	args := ProfileCommand(dir)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return PprofTop(filepath.Join(dir, "registry.cpu.pprof"), 25, "-cum", "-ignore=benchRegistry"), nil
}
