package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The tests give check main's configuration through their environment
// only, never through a file that happens to exist on the machine.
func init() { checkDefaultConfigFile = "/nonexistent/labelgate-check-test.yaml" }

// runCLI runs the binary's entry point in-process with the given stdin and
// environment and returns its exit status and output.
func runCLI(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, env)
	return code, out.String(), errOut.String()
}

// fencedYAML matches ```yaml blocks of a markdown file; the info string may
// carry `check-fails` for examples that must be refused.
var fencedYAML = regexp.MustCompile("(?ms)^```yaml([^\\n]*)\\n(.*?)^```")

// TestCheckDocsExamples runs `labelgate check` over every YAML example in
// docs/labels.md: label snippets are wrapped into a one-service compose file.
func TestCheckDocsExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/labels.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := fencedYAML.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 10 {
		t.Fatalf("found only %d yaml examples in docs/labels.md", len(blocks))
	}
	dir := t.TempDir()
	for i, b := range blocks {
		info, body := strings.TrimSpace(b[1]), b[2]
		if !strings.Contains(body, "services:") {
			var wrapped strings.Builder
			wrapped.WriteString("services:\n  example:\n")
			for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
				wrapped.WriteString("    " + line + "\n")
			}
			body = wrapped.String()
		}
		path := filepath.Join(dir, "example"+strings.Repeat("x", i)+".yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, "", nil, "check", path)
		want := 0
		if info == "check-fails" {
			want = 1
		}
		if code != want {
			t.Errorf("example %d (%s) exit %d, want %d:\n%s\n%s%s", i+1, info, code, want, body, out, errOut)
		}
	}
}

// TestCheckDeployComposeFiles checks the bundled compose files, including
// the agent-mode reference deployments copied verbatim.
func TestCheckDeployComposeFiles(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../deploy/compose/*.yaml")
	more, _ := filepath.Glob("../../deploy/compose/multi-host-*/*.yaml")
	swarm, _ := filepath.Glob("../../deploy/compose/swarm/*.yaml")
	more = append(more, swarm...)
	files = append(files, more...)
	if len(files) < 6 {
		t.Fatalf("expected the example, four multi-host and the swarm compose files, found %v", files)
	}
	for _, f := range files {
		code, out, errOut := runCLI(t, "", nil, "check", f)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func TestCheckStdinAndJSON(t *testing.T) {
	t.Parallel()
	in := "# one container\nlabelgate.tunnel.web.hostname=App.Example.com\nlabelgate.tunnel.web.service=http://web:80\nlabelgate.dns.bad.hostname=bad.example.com\nlabelgate.dns.bad.ttl=5\n"
	code, out, _ := runCLI(t, in, nil, "check", "--json", "-")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one invalid label)", code)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	svc := rep.Sources[0].Services[0]
	if rep.ErrorCount != 1 || len(svc.Tunnels) != 1 || svc.Tunnels[0].Hostname != "app.example.com" {
		t.Fatalf("unexpected report: %+v", rep)
	}
	if svc.Errors[0].Key != "labelgate.dns.bad.ttl" {
		t.Fatalf("error names %q, want labelgate.dns.bad.ttl", svc.Errors[0].Key)
	}

	code, out, _ = runCLI(t, in, nil, "check", "-")
	if code != 1 || !strings.Contains(out, "ERROR   labelgate.dns.bad.ttl:") || !strings.Contains(out, "tunnel  app.example.com -> http://web:80") {
		t.Fatalf("text output (exit %d) lacks the tunnel or the error:\n%s", code, out)
	}
}

func TestCheckPrefixAndFilterLabel(t *testing.T) {
	t.Parallel()
	in := "acme.tunnel.web.hostname=web.example.com\nacme.tunnel.web.service=http://web:80\nacme.managed=yes\nlabelgate.tunnel.x.hostname=ignored\n"
	env := map[string]string{"LABELGATE_LABEL_PREFIX": "acme", "LABELGATE_DOCKER_FILTER_LABEL": "acme.managed=yes"}
	code, out, errOut := runCLI(t, in, env, "check", "-")
	if code != 0 || !strings.Contains(out, "tunnel  web.example.com") {
		t.Fatalf("exit %d with prefix from the environment:\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, in, nil, "check", "--prefix", "acme", "-")
	if code != 1 || !strings.Contains(out, "acme.managed") {
		t.Fatalf("without the filter label, acme.managed must be refused (exit %d):\n%s", code, out)
	}
}

func TestCheckWarnings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "compose.yaml")
	src := `services:
  a:
    labels:
      labelgate.tunnel.web.hostname: app.example.com
      labelgate.tunnel.web.service: http://a:80
      labelgate.tunnel.web.access: missing
  b:
    labels:
      labelgate.tunnel.web.hostname: app.example.com
      labelgate.tunnel.web.service: http://b:80
      labelgate.dns.x.hostname: ${SUB}.example.com
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "", map[string]string{"SUB": "x"}, "check", path)
	if code != 0 {
		t.Fatalf("warnings must not fail the check; exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"tunnel route app.example.com is claimed 2 times (services a, b)",
		`access template "missing" (used by a) is not defined here`,
		"dns     A x.example.com",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A Swarm stack's deploy.labels are judged too, as the Swarm service's
// own labels, and labels under both forms are warned about.
func TestCheckStackDeployLabels(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "stack.yaml")
	src := `services:
  web:
    image: whoami
    deploy:
      labels:
        labelgate.tunnel.web.hostname: web.example.com
        labelgate.tunnel.web.service: http://web:80
  bad:
    image: whoami
    labels:
      labelgate.tunnel.b.hostname: b.example.com
      labelgate.tunnel.b.service: http://bad:80
    deploy:
      labels:
        labelgate.tunnel.c.hostname: c.example.com
        labelgate.tunnel.c.service: ftp://bad
  rec:
    image: whoami
    deploy:
      labels:
        labelgate.dns.r.hostname: r.example.com
        labelgate.dns.r.target: container
        labelgate.dns.r.proxied: "false"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "", nil, "check", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (an invalid deploy label)\n%s", code, out)
	}
	for _, want := range []string{
		"web (deploy.labels)", "tunnel  web.example.com -> http://web:80",
		"bad (deploy.labels)", "labelgate.tunnel.c.service",
		"service bad has Labelgate labels under both labels and deploy.labels",
		"service rec: deploy.labels DNS record r.example.com targets the container's address",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckMainConfiguration: check takes tunnels, agents and pinned
// templates from main's configuration, and says what it cannot know.
func TestCheckMainConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "labelgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
cloudflare:
  account_id: acc
  tunnels:
    edge: {tunnel_id: 22222222-2222-4222-8222-222222222222}
agent:
  agents:
    lab: {token: 0123456789abcdef0123, allowed_hostnames: ["*.lab.example.com"]}
access:
  templates:
    team: {policy.include.emails: "a@example.com"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LABELGATE_CONFIG": cfgPath, "LABELGATE_DEFAULT_TUNNEL": "edge"}
	in := "labelgate.tunnel.web.hostname=web.example.com\nlabelgate.tunnel.web.service=http://web:80\nlabelgate.tunnel.web.access=team\n"

	// Main's own container: the default tunnel is edge, the template is pinned.
	code, out, errOut := runCLI(t, in, env, "check", "-")
	if code != 0 || strings.Contains(out, "notes:") || strings.Contains(out, "not defined here") {
		t.Fatalf("exit %d; want 0 without notes or an undefined template:\n%s%s", code, out, errOut)
	}
	// A container redefining the pinned template is warned about.
	code, out, _ = runCLI(t, in+"labelgate.access.team.policy.include.emails=b@example.com\n", env, "check", "-")
	if code != 0 || !strings.Contains(out, `access template "team" is pinned in main's configuration (access.templates); main ignores this different definition`) {
		t.Fatalf("exit %d; want 0 and a warning about the pinned template:\n%s", code, out)
	}
	// As agent lab: its scope applies; its announced tunnel is unknown.
	code, out, _ = runCLI(t, in+"labelgate.tunnel.lab.hostname=x.lab.example.com\nlabelgate.tunnel.lab.service=http://x:80\n", env, "check", "--agent", "lab", "-")
	if code != 1 || !strings.Contains(out, "ERROR   labelgate.tunnel.web.hostname: hostname web.example.com is outside this agent's allowed hostnames") ||
		!strings.Contains(out, "default tunnel agent lab announces") {
		t.Fatalf("exit %d; want 1 with the scope error and a note about the announced tunnel:\n%s", code, out)
	}
	// Without main's tunnels here, tunnel names are not judged, and a note says so.
	code, out, _ = runCLI(t, in+"labelgate.tunnel.web.tunnel=anything\n", nil, "check", "-")
	if code != 0 || !strings.Contains(out, "tunnel names are not checked") {
		t.Fatalf("exit %d; want 0 with a note:\n%s", code, out)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"check"},
		{"check", "--bogus", "x.yaml"},
		{"check", "--prefix"},
		{"check", "/nonexistent/compose.yaml"},
	} {
		if code, _, errOut := runCLI(t, "", nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, code, errOut)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"check", "--agent", "lab", "-"}, `main's configuration has no agent "lab"`},
		{map[string]string{"LABELGATE_CONFIG": "/nonexistent/main.yaml"}, []string{"check", "-"}, "cannot read the configuration file"},
	} {
		if code, _, errOut := runCLI(t, "labelgate.tunnel.web.hostname=x.example.com\n", tc.env, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, out, _ := runCLI(t, "", nil, "check", "--help"); code != 0 || !strings.Contains(out, "Usage: labelgate check") {
		t.Errorf("--help: exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "", nil, "version")
	if code != 0 || !strings.HasPrefix(out, "labelgate dev (commit unknown, go1.") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
	if code, _, _ := runCLI(t, "", nil, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	}))
	defer ok.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ok.URL, "http://"))
	if code, out, errOut := runCLI(t, "", map[string]string{"LABELGATE_API_ADDRESS": ":" + port}, "healthcheck"); code != 0 {
		t.Fatalf("main's /healthz answered 200 but healthcheck exited %d: %s%s", code, out, errOut)
	}
	agentEnv := map[string]string{"LABELGATE_MODE": "agent", "LABELGATE_CONNECT_HEALTH_LISTEN": ":" + port,
		"LABELGATE_CONNECT_ENDPOINT": "wss://main.example:8081", "LABELGATE_CONNECT_TOKEN": "0123456789abcdef0123"}
	if code, _, errOut := runCLI(t, "", agentEnv, "healthcheck"); code != 0 {
		t.Fatalf("agent health answered 200 but healthcheck exited %d: %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "", nil, "healthcheck", "--url", ok.URL+"/missing"); code != 1 {
		t.Fatalf("a 404 must fail the check, got %d", code)
	}
	if code, _, _ := runCLI(t, "", nil, "healthcheck", "--url", "http://127.0.0.1:1/healthz", "--timeout", "500ms"); code != 1 {
		t.Fatalf("nothing listening must fail the check, got %d", code)
	}
}
