package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/deploy/imagebuild"
)

// EnvVar switches the real-engine tests on.
const EnvVar = "LABELGATE_DOCKER_TESTS"

// Endpoint is the Docker engine the tests drive.
const Endpoint = "unix:///var/run/docker.sock"

// RunLabel marks everything a test run creates.
const RunLabel = "lge2e.run"

// Env is one test's handle on the Docker engine.
type Env struct {
	t      testing.TB
	Docker *client.Client
	// Run is unique per test; names and the run label use it.
	Run string
}

// Setup skips the test unless EnvVar=1 and returns a connected Env.
func Setup(t testing.TB) *Env {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skipf("real-Docker test: set %s=1 to run it against %s", EnvVar, Endpoint)
	}
	dc, err := client.New(client.WithHost(Endpoint))
	if err != nil {
		t.Fatalf("creating the Docker client: %v", err)
	}
	t.Cleanup(func() { _ = dc.Close() }) // it closes idle connections; nothing is lost
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dc.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatalf("the Docker engine at %s does not answer: %v", Endpoint, err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &Env{t: t, Docker: dc, Run: hex.EncodeToString(b)}
}

// Name is a resource name unique to this run.
func (e *Env) Name(s string) string { return "lge2e-" + e.Run + "-" + s }

// Container describes a container to start.
type Container struct {
	Name     string // without the run prefix
	Image    string
	Cmd      []string
	Labels   map[string]string
	Env      []string
	Networks []string // Docker networks to attach (first one at create time)
	Binds    []string
	// Ports publishes container ports on loopback: "8080/tcp" → random host port.
	Ports    []string
	User     string
	GroupAdd []string
	// Healthcheck overrides parts of the image's HEALTHCHECK (an empty Test
	// keeps the image's command).
	Healthcheck *container.HealthConfig
}

// Start creates and starts a container (removed at cleanup) and returns its id.
func (e *Env) Start(c Container) string {
	e.t.Helper()
	id, err := e.start(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// start is Start without failing the test, so that it can run on any
// goroutine (StartAll). The cleanup is registered as soon as the container
// exists.
func (e *Env) start(c Container) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	labels := maps.Clone(c.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[RunLabel] = e.Run
	cfg := &container.Config{Image: c.Image, Cmd: c.Cmd, Labels: labels, Env: c.Env, User: c.User, Healthcheck: c.Healthcheck}
	host := &container.HostConfig{Binds: c.Binds, GroupAdd: c.GroupAdd}
	if len(c.Ports) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		host.PortBindings = network.PortMap{}
		for _, p := range c.Ports {
			port, err := network.ParsePort(p)
			if err != nil {
				return "", fmt.Errorf("port %q: %w", p, err)
			}
			cfg.ExposedPorts[port] = struct{}{}
			host.PortBindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
		}
	}
	var netCfg *network.NetworkingConfig
	if len(c.Networks) > 0 {
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{c.Networks[0]: {Aliases: []string{c.Name}}}}
	}
	name := e.Name(c.Name)
	res, err := e.Docker.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host, NetworkingConfig: netCfg})
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", name, err)
	}
	e.t.Cleanup(func() { e.Remove(res.ID) }) // safe from any goroutine
	for _, n := range c.Networks[min(1, len(c.Networks)):] {
		_, err := e.Docker.NetworkConnect(ctx, n, client.NetworkConnectOptions{Container: res.ID,
			EndpointConfig: &network.EndpointSettings{Aliases: []string{c.Name}}})
		if err != nil {
			return "", fmt.Errorf("connecting %s to %s: %w", name, n, err)
		}
	}
	if _, err := e.Docker.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("starting %s: %w", name, err)
	}
	return res.ID, nil
}

// Stop stops a container (SIGTERM, then SIGKILL after a second).
func (e *Env) Stop(id string) {
	e.t.Helper()
	timeout := 1
	if _, err := e.Docker.ContainerStop(context.Background(), id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		e.t.Fatalf("stopping %s: %v", id, err)
	}
}

// StartAgain starts a stopped container.
func (e *Env) StartAgain(id string) {
	e.t.Helper()
	if _, err := e.Docker.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		e.t.Fatalf("starting %s: %v", id, err)
	}
}

// Restart is `docker restart`.
func (e *Env) Restart(id string) {
	e.t.Helper()
	timeout := 1
	if _, err := e.Docker.ContainerRestart(context.Background(), id, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		e.t.Fatalf("restarting %s: %v", id, err)
	}
}

// Kill is `docker kill` (SIGKILL: no graceful shutdown).
func (e *Env) Kill(id string) {
	e.t.Helper()
	if _, err := e.Docker.ContainerKill(context.Background(), id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		e.t.Fatalf("killing %s: %v", id, err)
	}
}

// Remove force-removes a container; a missing one is fine.
func (e *Env) Remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = e.Docker.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
}

// Network creates a private network (removed at cleanup) and returns its name.
func (e *Env) Network(name string) string {
	e.t.Helper()
	full := e.Name(name)
	if _, err := e.Docker.NetworkCreate(context.Background(), full, client.NetworkCreateOptions{Labels: map[string]string{RunLabel: e.Run}}); err != nil {
		e.t.Fatalf("creating network %s: %v", full, err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = e.Docker.NetworkRemove(ctx, full, client.NetworkRemoveOptions{})
	})
	return full
}

// Connect attaches a container to a network under an alias.
func (e *Env) Connect(id, net, alias string) {
	e.t.Helper()
	_, err := e.Docker.NetworkConnect(context.Background(), net, client.NetworkConnectOptions{Container: id,
		EndpointConfig: &network.EndpointSettings{Aliases: []string{alias}}})
	if err != nil {
		e.t.Fatalf("connecting %s to %s: %v", id, net, err)
	}
}

// Disconnect detaches a container from a network (a partition).
func (e *Env) Disconnect(id, net string) {
	e.t.Helper()
	if _, err := e.Docker.NetworkDisconnect(context.Background(), net, client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil {
		e.t.Fatalf("disconnecting %s from %s: %v", id, net, err)
	}
}

// HostPort is the loopback port a published container port is bound to.
func (e *Env) HostPort(id, port string) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := e.Docker.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		if err != nil {
			e.t.Fatalf("inspecting %s: %v", id, err)
		}
		if res.Container.NetworkSettings != nil {
			for p, bs := range res.Container.NetworkSettings.Ports {
				if p.String() == port && len(bs) > 0 {
					return bs[0].HostPort
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s publishes no %s", id, port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Logs returns a container's output (for failure reports).
func (e *Env) Logs(id string) string {
	rc, err := e.Docker.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err.Error()
	}
	defer func() { _ = rc.Close() }() // read only
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	var out bytes.Buffer
	if demux(&out, bytes.NewReader(b)) != nil {
		return string(b) // not multiplexed (a TTY container)
	}
	return out.String()
}

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// ImageTag is the tag of the image built from the working tree.
const ImageTag = "labelgate:e2e"

// Image builds Labelgate's image from the working tree once per test binary
// (a static binary, deploy/Dockerfile, FROM scratch) and returns its tag.
func (e *Env) Image() string {
	e.t.Helper()
	imageOnce.Do(func() { imageTag, imageErr = buildImage(e.Docker) })
	if imageErr != nil {
		e.t.Fatalf("building %s: %v", ImageTag, imageErr)
	}
	return imageTag
}

func buildImage(dc *client.Client) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := imagebuild.ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "lge2e-image-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	bin := filepath.Join(dir, "labelgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -X main.version=e2e", "-o", bin, "./cmd/labelgate")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	if err := imagebuild.Build(ctx, dc, root, bin, ImageTag); err != nil {
		return "", err
	}
	return ImageTag, nil
}

// Eventually polls cond until it holds or within passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
