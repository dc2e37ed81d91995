package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/deploy/imagebuild"
)

// TestComposeDemo runs deploy/compose/demo.yaml as `make demo-compose` does
// (no group_add: the image joins the socket's group itself)
// (with `docker compose`, else `docker-compose`), under its own project
// name, ports and filter labels, and checks that it converges: main and
// both agents connected, every workload's route published, the foreign
// objects of the seed untouched.
func TestComposeDemo(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	compose := composeCommand(t)
	root, err := imagebuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "deploy", "compose", "demo.yaml")
	project := env.Name("demo")
	apiPort, simPort := freePort(t), freePort(t)
	environ := append(os.Environ(),
		"LABELGATE_IMAGE="+env.Image(),
		"DEMO_ID="+env.Run,
		"DEMO_PORT="+apiPort,
		"DEMO_CFSIM_PORT="+simPort,
	)
	run := func(timeout time.Duration, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		full := append(append(slices.Clone(compose[1:]), "-p", project, "-f", file), args...)
		cmd := exec.CommandContext(ctx, compose[0], full...)
		cmd.Env = environ
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := run(time.Minute, "logs", "--no-color", "--tail=40")
			t.Logf("--- compose logs ---\n%s", out)
		}
		if out, err := run(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Logf("%s down: %v\n%s", strings.Join(compose, " "), err, out)
		}
	})
	started := time.Now()
	if out, err := run(5*time.Minute, "up", "-d"); err != nil {
		t.Fatalf("%s up: %v\n%s", strings.Join(compose, " "), err, out)
	}
	up := time.Since(started)

	sim := NewSimClient(t, "http://127.0.0.1:"+simPort, "demo-cloudflare-token-not-secret", "0123456789abcdef0123456789abcdef")
	sim.Ready(30 * time.Second)
	c := &Cluster{t: t, env: env, Sim: sim, TunnelID: simTunnelID, CNAMETarget: simTunnelID + ".cfargotunnel.com",
		APIToken: "demo-api-token-not-secret", mainBase: "http://127.0.0.1:" + apiPort, http: &http.Client{Timeout: 5 * time.Second}}
	wants := []Want{
		{"admin.example.com", "http://admin:8080"},
		{"shop.example.com", "http://shop:8080"},
		{"blog.example.com", "http://blog:8080"},
	}
	_, took := c.WaitConverged(2*time.Minute, "the demo", wants)
	var sn Snapshot
	Eventually(t, time.Minute, "www, the path route, the TXT record and the Access app", func() bool {
		sn = c.Snapshot()
		r, www := sn.Rule("www.example.com")
		_, txt := sn.Record("TXT", "_verify.example.com")
		docs := slices.ContainsFunc(sn.Rules, func(r Rule) bool {
			return r.Hostname == "docs.example.com" && r.Path == "^/docs/" && r.Service == "http://wiki:8080"
		})
		app := slices.ContainsFunc(sn.Apps, func(a cfsim.AccessApp) bool { return a.Domain == "admin.example.com" && !a.Foreign })
		return www && (r.Service == "http://web:8080" || r.Service == "http://blog:8080") && txt && docs && app
	})
	var agents struct {
		Agents []AgentState `json:"agents"`
	}
	Eventually(t, time.Minute, "both agents connected", func() bool {
		if c.API("/api/v1/agents", &agents) != nil {
			return false
		}
		n := 0
		for _, a := range agents.Agents {
			if a.Connected {
				n++
			}
		}
		return n == 2
	})
	if d := sn.Duplicates(); len(d) > 0 {
		t.Errorf("duplicates: %v", d)
	}
	if fw := foreignWrites(sim.Audit()); len(fw) > 0 {
		t.Errorf("the demo wrote to the seed's foreign objects:%s", Describe(fw))
	}
	r, _ := sn.Rule("www.example.com")
	t.Logf("demo.yaml with %s: up in %.1fs, routes converged %.1fs later; www.example.com → %s (the other claimant waits); agents %s and %s connected",
		strings.Join(compose, " "), up.Seconds(), took.Seconds(), r.Service, agents.Agents[0].Name, agents.Agents[1].Name)
}

// composeCommand is `docker compose` when the plugin answers, else
// `docker-compose`, as the Makefile picks it.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Skip("neither `docker compose` nor `docker-compose` is installed")
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // frees the port
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func foreignWrites(audit []cfsim.AuditEntry) []cfsim.AuditEntry {
	var out []cfsim.AuditEntry
	for _, e := range audit {
		if e.Foreign && e.IsWrite() {
			out = append(out, e)
		}
	}
	return out
}
