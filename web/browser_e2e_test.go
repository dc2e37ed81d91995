package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/e2e"
)

// TestBrowserAgainstRealMain is the dashboard end to end: `labelgate demo`
// (main with the simulated Cloudflare) runs as a process on the real Docker
// engine; chromium logs in, a labelled container starts, and its hostname
// appears on the Hostnames page, then its route on the Tunnels page. It
// needs both LABELGATE_BROWSER_TESTS=1 and LABELGATE_DOCKER_TESTS=1
// (make test-browser sets both).
func TestBrowserAgainstRealMain(t *testing.T) {
	requireBrowser(t)
	env := e2e.Setup(t)
	image := env.Image()

	bin := filepath.Join(t.TempDir(), "labelgate")
	build := exec.Command("go", "build", "-o", bin, "../cmd/labelgate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building labelgate: %v\n%s", err, out)
	}
	api, sim := freeAddr(t), freeAddr(t)
	const token = "browser-e2e-token-0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	demo := exec.CommandContext(ctx, bin, "demo", "--cfsim-listen", sim)
	demo.Env = append(os.Environ(),
		"LABELGATE_API_ADDRESS="+api, "LABELGATE_API_TOKEN="+token,
		"LABELGATE_DOCKER_FILTER_LABEL="+e2e.RunLabel+"="+env.Run,
		"LABELGATE_SYNC_PUBLIC_IP_SOURCES=http://127.0.0.1:1/", "LABELGATE_LOG_LEVEL=warn")
	var logs strings.Builder
	demo.Stdout, demo.Stderr = &logs, &logs
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = demo.Wait()
		if t.Failed() {
			t.Logf("labelgate demo output:\n%s", logs.String())
		}
	})
	base := "http://" + api
	e2e.Eventually(t, 30*time.Second, "main's API to answer", func() bool {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})

	b := newBrowser(t, base)
	b.login(token, "/hostnames")
	host := "browser-" + env.Run + ".example.com"
	if n := b.count(fmt.Sprintf(`tr[data-hostname=%q]`, host)); n != 0 {
		t.Fatalf("%s is listed before its container started", host)
	}
	env.Start(e2e.Container{Name: "web", Image: image, Cmd: []string{"hello"}, Labels: map[string]string{
		"labelgate.tunnel.web.hostname": host,
		"labelgate.tunnel.web.service":  "http://web:8080",
	}})
	b.waitVisible(fmt.Sprintf(`tr[data-hostname=%q][data-state="active"]`, host), time.Duration(refreshState+20)*time.Second)
	b.screenshot("real-main-hostnames")
	b.open("/tunnels")
	b.waitVisible("table", 20*time.Second)
	e2e.Eventually(t, 60*time.Second, "the route on the Tunnels page", func() bool {
		b.open("/tunnels")
		return eval[bool](b, fmt.Sprintf("document.body.innerText.includes(%q)", host))
	})
	b.screenshot("real-main-tunnels")

	// Every page and every read endpoint answers against the running demo.
	for _, page := range []string{"/", "/hostnames", "/tunnels", "/dns", "/access", "/agents", "/events", "/plan"} {
		b.open(page)
		b.waitVisible("main", 20*time.Second)
		if msg := eval[string](b, `(document.querySelector(".flash.bad") || {}).textContent || ""`); msg != "" {
			t.Errorf("page %s shows an error: %s", page, msg)
		}
	}
	for _, ep := range []string{"overview", "hostnames", "tunnels", "dns-records", "access", "agents", "conflicts",
		"label-errors", "pending-deletes", "events", "plan"} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/"+ep, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET /api/v1/%s: %s %s", ep, res.Status, res.Header.Get("Content-Type"))
		}
	}
	for _, ep := range []string{"/healthz", "/readyz", "/metrics"} {
		res, err := http.Get(base + ep)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if ep != "/readyz" && res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", ep, res.Status)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // frees the port
	return ln.Addr().String()
}
