package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.yaml.in/yaml/v3"
)

// The Agent-mode documentation's outbound compose files
// (deploy/compose/multi-host-outbound, the upstream examples), run as
// written: no group_add, no user:. The image starts as root, joins the
// socket's group, and drops to 65532 (package privdrop).
//
// What the test adds to the files, and only that: cfsim stands in for
// Cloudflare (LABELGATE_CLOUDFLARE_API_URL), a filter label keeps each
// instance to its own workloads on this shared engine, the public-IP lookup
// stays local, main's API (8080) and the agents' health ports (8083) are
// published on loopback for the test to ask, and ports are published on
// random loopback ports instead of the host's 8081. Main's `configs:
// content:` (which docker-compose v1 cannot do) is written to a file and
// mounted at the same target. nginx:alpine (not pulled here) is replaced by
// `labelgate hello` with the file's labels.

// agentModeService is the part of a compose service this test runs.
type agentModeService struct {
	composeService `yaml:",inline"`
	Volumes        []string          `yaml:"volumes"`
	Ports          []string          `yaml:"ports"`
	Labels         map[string]string `yaml:"labels"`
	User           string            `yaml:"user"`
	GroupAdd       []string          `yaml:"group_add"`
}

type agentModeDoc struct {
	Services map[string]agentModeService `yaml:"services"`
	Configs  map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

func readAgentModeFile(t *testing.T, name string) agentModeDoc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(composeDir, "multi-host-outbound", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc agentModeDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for n, s := range doc.Services {
		if s.User != "" || len(s.GroupAdd) > 0 {
			t.Fatalf("%s: service %s sets user/group_add; this test is about the files without them", name, n)
		}
	}
	return doc
}

// proc is one process of a container as `docker top` shows it.
type proc struct{ uid, gid, supgid string }

// processes lists a container's processes with their supplementary groups,
// through the engine's ContainerTop (the image has no ps).
func processes(t *testing.T, env *Env, id string) []proc {
	t.Helper()
	res, err := env.Docker.ContainerTop(context.Background(), id, client.ContainerTopOptions{Arguments: []string{"-o", "pid,uid,gid,supgid"}})
	if err != nil {
		t.Fatalf("docker top %s: %v", id, err)
	}
	var out []proc
	for _, p := range res.Processes {
		if len(p) == 4 {
			out = append(out, proc{p[1], p[2], p[3]})
		}
	}
	if len(out) == 0 {
		t.Fatalf("docker top %s: no processes in %v", id, res.Processes)
	}
	return out
}

// assertDropped: every process of the container runs as 65532:65532 with
// the socket's group among its supplementary groups.
func assertDropped(t *testing.T, env *Env, what, id, sockGID string) {
	t.Helper()
	for _, p := range processes(t, env, id) {
		if p.uid != nonRoot || p.gid != nonRoot || !slices.Contains(strings.Split(p.supgid, ","), sockGID) {
			t.Errorf("%s: a process runs as uid %s gid %s groups %s; want %s %s with the socket's group %s", what, p.uid, p.gid, p.supgid, nonRoot, nonRoot, sockGID)
		} else {
			t.Logf("%s: uid %s gid %s supplementary groups %s", what, p.uid, p.gid, p.supgid)
		}
	}
}

func TestAgentModeComposeAsDocumented(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	mainDoc, agentDoc := readAgentModeFile(t, "main.yaml"), readAgentModeFile(t, "agent.yaml")
	mainSvc, agentSvc, webapp := mainDoc.Services["labelgate"], agentDoc.Services["labelgate-agent"], agentDoc.Services["webapp"]
	if mainSvc.Image == "" || agentSvc.Image == "" || len(webapp.Labels) == 0 {
		t.Fatal("the outbound compose files no longer hold services labelgate, labelgate-agent and webapp")
	}
	sockGID := env.SocketGID()
	vars := map[string]string{
		"LABELGATE_CLOUDFLARE_API_TOKEN":  simToken,
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID": simAccount,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID":  simTunnelID,
		"AGENT_1_TOKEN":                   agent1Token,
		"AGENT_2_TOKEN":                   agent2Token,
	}
	net := env.Network("agentmode")
	sim := env.Start(Container{Name: "am-cfsim", Image: env.Image(), Networks: []string{net}, Ports: []string{"8787/tcp"},
		Cmd: []string{"cfsim", "--listen", ":8787", "--zone", "example.com", "--tunnel", "home=" + simTunnelID, "--token", simToken, "--account", simAccount}})
	env.LogsOnFailure("am-cfsim", sim)
	simc := NewSimClient(t, "http://127.0.0.1:"+env.HostPort(sim, "8787/tcp"), simToken, simAccount)
	simc.Ready(20 * time.Second)

	// Main: the file's environment, volumes (a fresh named volume) and
	// ports; the inline configuration as a mounted file.
	mainEnv := environment(t, mainSvc.Environment, vars)
	mainEnv["LABELGATE_CLOUDFLARE_API_URL"] = "http://am-cfsim:8787"
	mainEnv["LABELGATE_DOCKER_FILTER_LABEL"] = HostLabel + "=" + env.Run + "-am-nothing"
	mainEnv["LABELGATE_SYNC_PUBLIC_IP_SOURCES"] = "http://127.0.0.1:1/"
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var binds []string
	for _, c := range mainSvc.Configs {
		content := interpolate(t, vars, map[string]string{"c": mainDoc.Configs[c.Source].Content})["c"]
		file := filepath.Join(dir, c.Source+".yaml")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		binds = append(binds, file+":"+c.Target+":ro")
	}
	for _, v := range mainSvc.Volumes {
		if name, rest, _ := strings.Cut(v, ":"); !strings.HasPrefix(name, "/") {
			v = env.Volume(name) + ":" + rest
		}
		binds = append(binds, v)
	}
	// The agents dial main by the name in their file.
	agentEnv0 := environment(t, agentSvc.Environment, map[string]string{"AGENT_TOKEN": agent1Token})
	endpoint, err := url.Parse(agentEnv0["LABELGATE_CONNECT_ENDPOINT"])
	if err != nil || endpoint.Hostname() == "" {
		t.Fatalf("the agent's LABELGATE_CONNECT_ENDPOINT %q: %v", agentEnv0["LABELGATE_CONNECT_ENDPOINT"], err)
	}
	ports := []string{"8080/tcp"}
	for _, p := range mainSvc.Ports {
		_, cport, _ := strings.Cut(p, ":")
		ports = append(ports, cport+"/tcp")
	}
	mainID := env.Start(Container{Name: endpoint.Hostname(), Image: env.Image(), Networks: []string{net},
		Env: envList(mainEnv), Binds: binds, Ports: ports})
	env.LogsOnFailure("main", mainID)
	c := &Cluster{t: t, env: env, MainID: mainID, mainBase: "http://127.0.0.1:" + env.HostPort(mainID, "8080/tcp"),
		http: &http.Client{Timeout: 10 * time.Second}}

	// Two remote hosts, each running the agent file with its own token.
	agents := map[string]string{}
	var agentIDs []string
	for _, a := range []struct{ name, token string }{{"docker-host-1", agent1Token}, {"docker-host-2", agent2Token}} {
		ae := environment(t, agentSvc.Environment, map[string]string{"AGENT_TOKEN": a.token})
		ae["LABELGATE_DOCKER_FILTER_LABEL"] = HostLabel + "=" + env.Run + "-" + a.name
		id := env.Start(Container{Name: a.name, Image: env.Image(), Networks: []string{net},
			Env: envList(ae), Binds: agentSvc.Volumes, Ports: []string{"8083/tcp"}})
		env.LogsOnFailure(a.name, id)
		agents[a.name] = id
		agentIDs = append(agentIDs, id)
	}
	// The file's webapp, on docker-host-1.
	wl := map[string]string{HostLabel: env.Run + "-docker-host-1"}
	for k, v := range webapp.Labels {
		wl[k] = v
	}
	env.Start(Container{Name: "webapp", Image: env.Image(), Cmd: []string{"hello"}, Networks: []string{net}, Labels: wl})

	Eventually(t, 90*time.Second, "main /readyz 200", func() bool { code, _ := readyz(c.mainBase); return code == http.StatusOK })
	for name, id := range agents {
		base := "http://127.0.0.1:" + env.HostPort(id, "8083/tcp")
		Eventually(t, 60*time.Second, name+" /readyz 200", func() bool { code, _ := readyz(base); return code == http.StatusOK })
		Eventually(t, 30*time.Second, name+" connected (main's /api/v1/agents)", func() bool { return c.Agent(name).Connected })
	}
	host, service := webapp.Labels["labelgate.tunnel.web.hostname"], webapp.Labels["labelgate.tunnel.web.service"]
	Eventually(t, 60*time.Second, "the webapp's route in the tunnel's configuration", func() bool {
		sn, err := SnapshotOf(simc.MustState(), simTunnelID)
		if err != nil {
			return false
		}
		r, ok := sn.Rule(host)
		return ok && r.Service == service
	})

	assertDropped(t, env, "main", mainID, sockGID)
	for _, id := range agentIDs {
		assertDropped(t, env, "agent "+env.Inspect(id).Name, id, sockGID)
	}
	var dirOK, dbOK bool
	for _, f := range env.CopyOut(mainID, "/app/config") {
		switch f.Name {
		case "config", "config/":
			dirOK = f.Dir && f.UID == 65532
		case "config/labelgate.db":
			dbOK = f.UID == 65532
		}
	}
	if !dirOK || !dbOK {
		t.Errorf("the named volume at /app/config must belong to 65532 and hold labelgate.db (dir %v, db %v)", dirOK, dbOK)
	}
	// The image's HEALTHCHECK command (docker exec runs it as root) works
	// and drops too.
	if code, out := env.Exec(mainID, "/usr/local/bin/labelgate", "healthcheck"); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("labelgate healthcheck inside main: exit %d, %q", code, out)
	}
	if !strings.Contains(env.Logs(mainID), "joining group "+sockGID) {
		t.Errorf("main's log does not say it joined the socket's group %s", sockGID)
	}
}

// TestAgentModeExplicitUserWithoutGroup: with an explicit user: and no
// group_add, the image does not try to drop anything and stops at start
// with an error naming the fix.
func TestAgentModeExplicitUserWithoutGroup(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	agentSvc := readAgentModeFile(t, "agent.yaml").Services["labelgate-agent"]
	ae := environment(t, agentSvc.Environment, map[string]string{"AGENT_TOKEN": agent1Token})
	ae["LABELGATE_DOCKER_FILTER_LABEL"] = HostLabel + "=" + env.Run + "-nothing"
	id := env.Start(Container{Name: "am-user", Image: env.Image(), Networks: []string{env.Network("am-user")},
		Env: envList(ae), Binds: agentSvc.Volumes, User: nonRoot,
		Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}})
	Eventually(t, 30*time.Second, "the agent with user: 65532 to stop", func() bool { return !env.Inspect(id).State.Running })
	st := env.Inspect(id).State
	logs := env.Logs(id)
	sockGID := env.SocketGID()
	if st.ExitCode == 0 || !strings.Contains(logs, `group_add: ["`+sockGID+`"]`) || !strings.Contains(logs, "--group-add "+sockGID) ||
		!strings.Contains(logs, "run without user:") {
		t.Fatalf("exit %d, log %q; want a failure naming group_add %s, --group-add and running without user:", st.ExitCode, logs, sockGID)
	}
	t.Logf("user: 65532 without group_add: exit %d: %s", st.ExitCode, strings.TrimSpace(logs))
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// TestImageChownsBindMountedDataDir: a bind-mounted data directory that
// belongs to someone else (here root, or whoever runs the test) is given to
// 65532 at start, so main can write its database there.
func TestImageChownsBindMountedDataDir(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	id, base := imageMain(t, env, "chown", mainOpts{noGroup: true, binds: []string{dir + ":/app/config"}})
	Eventually(t, 60*time.Second, "main ready with a bind-mounted data directory", func() bool { code, _ := readyz(base); return code == http.StatusOK })
	for _, p := range []string{dir, filepath.Join(dir, "old"), filepath.Join(dir, "labelgate.db")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if o, ok := ownerOfHost(fi); !ok || o != "65532:65532" {
			t.Errorf("%s belongs to %s; want 65532:65532", p, o)
		}
	}
	assertDropped(t, env, "main", id, env.SocketGID())
}
