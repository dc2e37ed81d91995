package e2e

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// The image as a user runs it: FROM scratch, started as root only to drop
// to 65532 (package privdrop), with its metadata and a HEALTHCHECK that works.

// nonRoot is the user the image's process runs as once it has dropped root.
const nonRoot = "65532"

// mainOpts vary imageMain.
type mainOpts struct {
	noGroup bool     // leave out the socket's group
	user    string   // an explicit --user
	env     []string // more LABELGATE_* settings
	binds   []string // more mounts
}

// imageMain starts cfsim and a main with the minimum configuration on a
// network of their own (named name; main's alias is name too), the socket
// mounted and, unless opts.noGroup, readable. It returns main's id and API
// base URL.
func imageMain(t *testing.T, env *Env, name string, opts mainOpts) (string, string) {
	t.Helper()
	net := env.Network(name)
	sim := env.Start(Container{Name: name + "-cfsim", Image: env.Image(), Networks: []string{net},
		Cmd: []string{"cfsim", "--listen", ":8787", "--zone", "example.com", "--tunnel", "home=" + simTunnelID, "--token", simToken, "--account", simAccount}})
	env.LogsOnFailure(name+"-cfsim", sim)
	c := Container{Name: name, Image: env.Image(), Networks: []string{net}, Ports: []string{"8080/tcp"},
		Binds: append([]string{SocketPath + ":" + SocketPath + ":ro"}, opts.binds...),
		// The image's own HEALTHCHECK command, checked every second
		// instead of every 30 s.
		Healthcheck: &container.HealthConfig{Interval: time.Second, Timeout: 5 * time.Second, Retries: 3},
		Env: append([]string{
			"LABELGATE_CLOUDFLARE_API_TOKEN=" + simToken,
			"LABELGATE_CLOUDFLARE_ACCOUNT_ID=" + simAccount,
			"LABELGATE_CLOUDFLARE_TUNNEL_ID=" + simTunnelID,
			"LABELGATE_CLOUDFLARE_API_URL=http://" + name + "-cfsim:8787",
			"LABELGATE_DOCKER_FILTER_LABEL=" + HostLabel + "=" + env.Run + "-nothing",
			"LABELGATE_SYNC_PUBLIC_IP_SOURCES=http://127.0.0.1:1/",
		}, opts.env...)}
	if !opts.noGroup {
		c.GroupAdd = []string{env.SocketGID()}
	}
	c.User = opts.user
	id := env.Start(c)
	env.LogsOnFailure(name, id)
	return id, "http://127.0.0.1:" + env.HostPort(id, "8080/tcp")
}

// readyz fetches main's /readyz.
func readyz(base string) (int, map[string]struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}) {
	var body struct {
		Checks map[string]struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Checks
}

func TestImage(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	img := env.ImageInspect(env.Image())

	// No USER: the process starts as root to join the socket's group and
	// drops to 65532 before it does anything else (checked below).
	if u := img.Config.User; u != "" {
		t.Errorf("USER is %q; want none (the binary drops root itself)", u)
	}
	for _, k := range []string{"title", "description", "version", "revision", "source", "licenses"} {
		if img.Config.Labels["org.opencontainers.image."+k] == "" {
			t.Errorf("the OCI label org.opencontainers.image.%s is missing", k)
		}
	}
	hc := img.Config.Healthcheck
	if hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/usr/local/bin/labelgate", "healthcheck"}) || hc.Interval <= 0 {
		t.Errorf("HEALTHCHECK is %+v; want CMD /usr/local/bin/labelgate healthcheck with an interval", hc)
	}
	if _, ok := img.Config.Volumes["/app/config"]; !ok {
		t.Errorf("VOLUME /app/config is missing: main's state would live in the container's layer")
	}
	t.Logf("image %s: %d bytes (%.1f MB), %d layers, healthcheck %v every %v",
		env.Image(), img.Size, float64(img.Size)/1e6, len(img.RootFS.Layers), hc.Test[1:], hc.Interval)

	id, base := imageMain(t, env, "img", mainOpts{})
	Eventually(t, 60*time.Second, "main healthy (docker inspect)", func() bool { return env.HealthStatus(id) == "healthy" })
	Eventually(t, 30*time.Second, "main ready", func() bool { code, _ := readyz(base); return code == http.StatusOK })

	for _, p := range env.ProcessIDs(id) {
		if strings.Join(strings.Fields(p), " ") != nonRoot+" "+nonRoot {
			t.Errorf("a process runs as uid/gid %q; want %s %s", p, nonRoot, nonRoot)
		}
	}
	// /app/config (the image's anonymous volume here) belongs to 65532 and
	// holds the database main wrote into it.
	var dirOK, dbOK bool
	for _, f := range env.CopyOut(id, "/app/config") {
		switch f.Name {
		case "config", "config/":
			dirOK = f.Dir && f.UID == 65532 && f.Mode&0o200 != 0
		case "config/labelgate.db":
			dbOK = f.UID == 65532
		}
	}
	if !dirOK || !dbOK {
		t.Errorf("/app/config must be a directory owned and writable by 65532 holding main's labelgate.db (dir ok %v, database ok %v)", dirOK, dbOK)
	}
	if code, out := env.Exec(id, "/usr/local/bin/labelgate", "healthcheck"); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("labelgate healthcheck inside main: exit %d, %q", code, out)
	}
	st := env.Inspect(id).State.Health
	t.Logf("main as %s: healthy after %d check(s) (%q), /readyz 200, /app/config owned by 65532 with labelgate.db", nonRoot, len(st.Log), strings.TrimSpace(st.Log[len(st.Log)-1].Output))
}

// TestImageSocketNeedsGroup: an explicit non-root user is respected (no
// drop, no group joined), so without the socket's group main cannot use the
// Docker socket: it stops at start with an error naming the fix instead of
// running blind.
func TestImageSocketNeedsGroup(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	id, _ := imageMain(t, env, "nogroup", mainOpts{noGroup: true, user: nonRoot + ":" + nonRoot})
	Eventually(t, 30*time.Second, "main with --user 65532 and no group to stop", func() bool { return !env.Inspect(id).State.Running })
	code, logs, gid := env.Inspect(id).State.ExitCode, env.Logs(id), env.SocketGID()
	if code == 0 || !strings.Contains(logs, `group_add: ["`+gid+`"]`) || !strings.Contains(logs, "--group-add "+gid) {
		t.Errorf("exit %d, log %q; want a failure naming group_add / --group-add %s", code, logs, gid)
	}
	t.Logf("--user 65532 without the socket's group: exit %d: %s", code, strings.TrimSpace(logs))
}

// TestAgentPinsMainCertificate: main persists the self-signed certificate
// of its agent listener at <data_dir>/agent-listener.pem, and the
// certificate alone at agent-listener.crt, so that operators can pin it on
// agents (LABELGATE_CONNECT_TLS_CA) instead of relying on the token-bound
// mode. An agent given that certificate must connect with tls_mode
// "verified", whatever name it uses for main.
func TestAgentPinsMainCertificate(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	id, base := imageMain(t, env, "pin", mainOpts{env: []string{
		"LABELGATE_AGENT_ENABLED=true", "LABELGATE_AGENT_HEARTBEAT_INTERVAL=1s",
		"LABELGATE_AGENT_AGENTS={a1: {token: " + agent1Token + "}}"}})
	// Not ready until a1 reports (the settle point); healthy is enough.
	Eventually(t, 30*time.Second, "main healthy", func() bool { return env.HealthStatus(id) == "healthy" })
	var certPEM []byte
	for _, f := range env.CopyOut(id, "/app/config/agent-listener.crt") {
		rest := f.Data
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				t.Fatalf("agent-listener.crt holds a %s block; it must hold the certificate only", b.Type)
			}
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		}
	}
	if len(certPEM) == 0 {
		t.Fatal("main persisted no certificate at /app/config/agent-listener.crt")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main-ca.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	agent := env.Start(Container{Name: "pin-agent", Image: env.Image(), Networks: []string{env.Name("pin")},
		Binds: []string{SocketPath + ":" + SocketPath + ":ro", dir + ":/pin:ro"}, GroupAdd: []string{env.SocketGID()},
		Env: []string{"LABELGATE_MODE=agent", "LABELGATE_CONNECT_ENDPOINT=wss://pin:8081", "LABELGATE_CONNECT_TOKEN=" + agent1Token,
			"LABELGATE_CONNECT_TLS_CA=/pin/main-ca.pem", "LABELGATE_DOCKER_FILTER_LABEL=" + HostLabel + "=" + env.Run + "-nothing"}})
	env.LogsOnFailure("pin-agent", agent)
	c := &Cluster{t: t, env: env, mainBase: base, http: &http.Client{Timeout: 5 * time.Second}}
	// Main sees the agent as token-bound (it presents no client
	// certificate); the agent's own log says how it verified main.
	Eventually(t, 30*time.Second, "the agent connected, having verified main's pinned certificate", func() bool {
		return c.Agent("a1").Connected && strings.Contains(env.Logs(agent), "connected; certificate verified")
	})
}
