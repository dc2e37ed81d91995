package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
)

// BudgetResult is a burst of containers started at once against cfsim's
// real rate limit (1,200 requests per 300 s per token, then a 300 s
// lockout).
type BudgetResult struct {
	Containers int    `json:"containers"`
	Shape      string `json:"shape"`
	Clock      string `json:"clock"` // "real" or "simulated (synctest)"
	// Converged is the time from the first container start to every rule,
	// record (and app) being in cfsim.
	Converged time.Duration `json:"converged"`
	Calls     Calls         `json:"calls"`
	// MaxWindow is the most requests in any 300 s window; the limit is 1,200.
	MaxWindow int `json:"max_window"`
	// BudgetFloor is the least time main's token bucket (3/s, burst 10)
	// needs for the calls made.
	BudgetFloor time.Duration `json:"budget_floor"`
}

// maxInWindow is the most audit entries inside any window-long interval.
func maxInWindow(entries []cfsim.AuditEntry, window time.Duration) int {
	best, j := 0, 0
	for i := range entries {
		for entries[i].Time.Sub(entries[j].Time) >= window {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func budgetFloor(calls int) time.Duration {
	return time.Duration(float64(max(calls-10, 0)) / 3 * float64(time.Second))
}

// RunBudget starts main (in process, fake engine, default settings: 3
// requests/s, burst 10) against cfsim on loopback with its default rate
// limit, lets it settle with no containers, then starts n labelled
// containers at once (one tunnel route each) and waits for convergence.
func RunBudget(ctx context.Context, n int, workDir string, log *slog.Logger) (BudgetResult, error) {
	res := BudgetResult{Containers: n, Shape: "one tunnel route (+ its CNAME) each", Clock: "real"}
	sim, err := NewSim(true)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	engine := dockertest.New()
	m, err := StartInProcMain(ctx, MainOptions{Sim: sim, Docker: engine, DataDir: filepath.Join(workDir, "budget"), Logger: log})
	if err != nil {
		return res, err
	}
	defer m.Stop()
	// Main's own start-up reads (zones, tunnel, DNS, Access) are not part
	// of the burst.
	if err := waitQuiet(ctx, sim, time.Second, time.Minute); err != nil {
		return res, err
	}
	before := len(sim.Audit())
	t0 := time.Now()
	for i := range n {
		name := fmt.Sprintf("burst%04d", i)
		engine.Start(name, map[string]string{
			"labelgate.tunnel.web.hostname": name + "." + Zone,
			"labelgate.tunnel.web.service":  "http://" + name + ":8080",
		})
	}
	deadline := t0.Add(20 * time.Minute)
	for sim.RuleCount() < n || sim.RecordCount() < n {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("budget: not converged after 20 minutes (rules %d, records %d)", sim.RuleCount(), sim.RecordCount())
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.Converged = time.Since(t0)
	if err := waitQuiet(ctx, sim, 2*time.Second, time.Minute); err != nil {
		return res, err
	}
	audit := sim.Audit()
	res.Calls = CountCalls(audit[before:])
	// Start-up reads included: cfsim's limit counts every call of the token.
	res.MaxWindow = maxInWindow(audit, cfsim.DefaultRateLimitWindow)
	res.BudgetFloor = budgetFloor(res.Calls.Total)
	return res, nil
}

// RunBudgetAccess is the budget under calls that cannot be batched: n
// containers, each a tunnel route protected by the same Access template,
// so n Access applications to create one call at a time (plus the shared
// policy, the routes and the CNAMEs). Main starts with the containers
// running. Meant for a testing/synctest bubble (cfsim in memory, its rate
// limit and main's token bucket on the bubble's clock): the simulated
// convergence time is the budget's pacing, compressed.
func RunBudgetAccess(ctx context.Context, n int, dataDir string, log *slog.Logger) (BudgetResult, error) {
	res := BudgetResult{Containers: n, Shape: "one Access-protected tunnel route each (n apps, 1 shared policy, n CNAMEs)", Clock: "simulated (synctest)"}
	sim, err := NewSim(false)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	engine := dockertest.New()
	for i := range n {
		name := fmt.Sprintf("app%04d", i)
		engine.Start(name, map[string]string{
			"labelgate.access.staff.policy.decision":                 "allow",
			"labelgate.access.staff.policy.include.emails_ending_in": "@example.com",
			"labelgate.tunnel.web.hostname":                          name + "." + Zone,
			"labelgate.tunnel.web.service":                           "http://" + name + ":8080",
			"labelgate.tunnel.web.access":                            "staff",
		})
	}
	t0 := time.Now()
	m, err := StartInProcMain(ctx, MainOptions{Sim: sim, Docker: engine, DataDir: dataDir, Logger: log,
		Tweak: func(c *config.Config) { c.Sync.Interval = 24 * time.Hour }})
	if err != nil {
		return res, err
	}
	defer m.Stop()
	deadline := t0.Add(24 * time.Hour)
	for sim.RuleCount() < n || sim.RecordCount() < n || len(sim.AccessApps()) < n {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("budget (Access): not converged after a simulated day (rules %d, records %d, apps %d)", sim.RuleCount(), sim.RecordCount(), len(sim.AccessApps()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Converged = time.Since(t0)
	if err := waitQuiet(ctx, sim, 10*time.Second, time.Hour); err != nil {
		return res, err
	}
	audit := sim.Audit()
	res.Calls = CountCalls(audit)
	res.MaxWindow = maxInWindow(audit, cfsim.DefaultRateLimitWindow)
	res.BudgetFloor = budgetFloor(res.Calls.Total)
	return res, nil
}

// waitQuiet waits until cfsim has seen no request for quiet.
func waitQuiet(ctx context.Context, sim *Sim, quiet, within time.Duration) error {
	deadline := time.Now().Add(within)
	for n := -1; n != len(sim.Audit()); {
		if time.Now().After(deadline) {
			return fmt.Errorf("cfsim did not go quiet within %v", within)
		}
		n = len(sim.Audit())
		if err := sleepCtx(ctx, quiet); err != nil {
			return err
		}
	}
	return nil
}
