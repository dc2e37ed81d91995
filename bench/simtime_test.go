package bench

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// The scenarios that need simulated time run here, inside testing/synctest
// bubbles: main's token bucket, debounce and drift timer, and cfsim's rate
// limit all run on the bubble's clock. lgbench runs these tests with
// -lgbench.out=DIR (and -lgbench.full for the documented sizes) and reads
// the JSON they write; without flags they are quick functional smoke tests
// that `go test ./...` runs. They fail only on functional errors (never
// converging, a write in the steady state, a 429): figures are not
// assertions.
var (
	outDir = flag.String("lgbench.out", "", "write the figures as JSON files into this directory")
	full   = flag.Bool("lgbench.full", false, "run the documented sizes instead of the smoke sizes")
)

func writeJSON(t *testing.T, name string, v any) {
	t.Helper()
	if *outDir == "" {
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*outDir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAPICalls counts the Cloudflare calls of a cold start and of ten
// minutes of steady state with sync.interval = 2 minutes.
func TestAPICalls(t *testing.T) {
	cases := []CallsCase{{Hostnames: 10}}
	if *full {
		cases = []CallsCase{{Hostnames: 10}, {Hostnames: 100}, {Hostnames: 100, DNS: true}, {Hostnames: 1000}}
	}
	var results []CallsResult
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res, err := RunCalls(t.Context(), c, CallsOptions{
					DataDir: t.TempDir(), SteadyWindow: 10 * time.Minute, SyncInterval: 2 * time.Minute,
					Logger: stderrLogger(nil),
				})
				if err != nil {
					t.Fatal(err)
				}
				if res.Steady.Writes != 0 {
					t.Errorf("the steady state wrote %d times: %s", res.Steady.Writes, res.Steady.Breakdown())
				}
				t.Logf("%s: cold %d calls (lower bound %d, ×%.2f) in %v simulated: %s; steady %d reads, %d writes over %v (%d drift rounds)",
					c, res.Cold.Total, res.LowerBound, res.Ratio(), res.Converged, res.Cold.Breakdown(),
					res.Steady.Reads, res.Steady.Writes, res.SteadyWindow, res.DriftRounds)
				results = append(results, res)
			})
		})
	}
	writeJSON(t, "calls.json", results)
}

// TestBudgetAccess converges Access-protected routes, one application
// create per container, against cfsim's 1,200-per-300-s limit.
func TestBudgetAccess(t *testing.T) {
	n := 30
	if *full {
		n = 1000
	}
	synctest.Test(t, func(t *testing.T) {
		res, err := RunBudgetAccess(t.Context(), n, t.TempDir(), stderrLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		if res.Calls.RateLimited != 0 {
			t.Errorf("main caused %d 429s", res.Calls.RateLimited)
		}
		t.Logf("%d containers (%s): %d calls, %d 429s, converged after %v simulated, at most %d requests in a 300 s window: %s",
			n, res.Shape, res.Calls.Total, res.Calls.RateLimited, res.Converged, res.MaxWindow, res.Calls.Breakdown())
		writeJSON(t, "budget-access.json", res)
	})
}
