package dockerwatch

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/messages"
)

// The real-engine test drives the local Docker Engine through the moby
// client. It needs no registry: its image is built FROM scratch out of
// testdata/sleeper. Everything it creates is named lgtest-dw-<random> and
// removed in t.Cleanup, also on failure.

const (
	dockerTestsEnv  = "LABELGATE_DOCKER_TESTS"
	dockerEndpoint  = "unix:///var/run/docker.sock"
	sleeperImageTag = "labelgate-test-sleeper:dev"
	settleTimeout   = 20 * time.Second
)

func TestDockerEngine(t *testing.T) {
	if os.Getenv(dockerTestsEnv) != "1" {
		t.Skipf("real-Docker test: set %s=1 to run it against %s (it builds %s and starts lgtest-dw-* containers)",
			dockerTestsEnv, dockerEndpoint, sleeperImageTag)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(began).Seconds(), what) }

	dc, err := client.New(client.WithHost(dockerEndpoint))
	if err != nil {
		t.Fatalf("creating the Docker client: %v", err)
	}
	t.Cleanup(func() { _ = dc.Close() }) // it closes idle connections; nothing is lost
	if _, err := dc.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatalf("Docker engine at %s does not answer: %v", dockerEndpoint, err)
	}

	image := buildSleeperImage(ctx, t, dc)
	step("image built")
	run := "lgtest-dw-" + randomSuffix(t)
	netName, netB := run, run+"-b"
	createNetwork(ctx, t, dc, netName)
	createNetwork(ctx, t, dc, netB) // before the containers: cleanups run in reverse

	// Watcher A selects by prefix only; watcher B also filters on the
	// run label in the engine. Poll is an hour: everything below must be
	// seen through events.
	base := Config{Endpoint: dockerEndpoint, Debounce: 200 * time.Millisecond, PollInterval: time.Hour}
	filtered := base
	filtered.FilterLabel = "lgtest.run=" + run
	all := watchEngine(t, base)
	only := watchEngine(t, filtered)
	for _, w := range []*recorder{all, only} {
		waitSet(t, w, "the first set", func(messages.ContainerSet) bool { return true })
	}
	step("watchers connected")

	webLabels := map[string]string{"labelgate.tunnel.hostname": "web.example.test", "lgtest.run": run}
	web := startContainer(ctx, t, dc, containerSpec{
		name: run + "-web", image: image, network: netName, labels: webLabels, healthy: true,
	})
	other := startContainer(ctx, t, dc, containerSpec{ // labelgate label, but not the run label
		name: run + "-other", image: image, network: netName,
		labels: map[string]string{"labelgate.dns.hostname": "other.example.test"},
	})
	startContainer(ctx, t, dc, containerSpec{ // run label, but no labelgate label
		name: run + "-plain", image: image, network: netName,
		labels: map[string]string{"lgtest.run": run},
	})
	step("containers started")

	// start → appears with its labels, network, IP and, once the check has
	// run, its health.
	ins, err := dc.ContainerInspect(ctx, web, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspecting the web container: %v", err)
	}
	wantIP := ins.Container.NetworkSettings.Networks[netName].IPAddress.String()
	s := waitSet(t, all, "web healthy", func(s messages.ContainerSet) bool {
		c, ok := find(s, run+"-web")
		return ok && c.Health == "healthy"
	})
	got, _ := find(s, run+"-web")
	step("web seen healthy")
	if got.ID != web || got.State != "running" || got.Created.IsZero() || got.Started.IsZero() {
		t.Errorf("web = %+v, want its ID, running, created and started times", got)
	}
	if diff := cmp.Diff(webLabels, got.Labels); diff != "" {
		t.Errorf("web labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]messages.Network{{Name: netName, IPv4: wantIP}}, got.Networks); diff != "" {
		t.Errorf("web networks (-want +got):\n%s", diff)
	}
	if _, ok := find(s, run+"-other"); !ok {
		t.Errorf("prefix-only watcher misses %s-other: %v", run, names(s))
	}
	waitSet(t, only, "web in the filtered set", func(s messages.ContainerSet) bool {
		_, ok := find(s, run+"-web")
		return ok
	})

	// restart → present again after settling, with a new start time.
	timeout := 5
	if _, err := dc.ContainerRestart(ctx, web, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("restarting web: %v", err)
	}
	waitSet(t, all, "web restarted", func(s messages.ContainerSet) bool {
		c, ok := find(s, run+"-web")
		return ok && c.State == "running" && c.Started.After(got.Started)
	})
	time.Sleep(4 * base.Debounce) // let any trailing events land
	step("restart seen")
	if _, ok := find(all.last(t), run+"-web"); !ok {
		t.Errorf("web is missing after the restart settled")
	}

	// rename → new name, old one gone.
	if _, err := dc.ContainerRename(ctx, web, client.ContainerRenameOptions{NewName: run + "-web2"}); err != nil {
		t.Fatalf("renaming web: %v", err)
	}
	for _, w := range []*recorder{all, only} {
		waitSet(t, w, "web renamed", func(s messages.ContainerSet) bool {
			c, ok := find(s, run+"-web2")
			_, old := find(s, run+"-web")
			return ok && c.ID == web && !old
		})
	}

	step("rename seen")

	// stop → gone.
	if _, err := dc.ContainerStop(ctx, web, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("stopping web2: %v", err)
	}
	for _, w := range []*recorder{all, only} {
		waitSet(t, w, "web2 gone", func(s messages.ContainerSet) bool {
			_, ok := find(s, run+"-web2")
			return !ok
		})
	}
	step("stop seen")
	if _, ok := find(all.last(t), run+"-other"); !ok {
		t.Errorf("%s-other vanished when web2 stopped", run)
	}

	// network connect (no container event) → the new network and IP.
	if _, err := dc.NetworkConnect(ctx, netB, client.NetworkConnectOptions{Container: other}); err != nil {
		t.Fatalf("connecting other to %s: %v", netB, err)
	}
	waitSet(t, all, "other on two networks", func(s messages.ContainerSet) bool {
		c, ok := find(s, run+"-other")
		return ok && len(c.Networks) == 2 && c.Networks[1].Name == netB && c.Networks[1].IPv4 != ""
	})
	step("network connect seen")

	// pause → still present, state paused; unpause → running.
	if _, err := dc.ContainerPause(ctx, other, client.ContainerPauseOptions{}); err != nil {
		t.Fatalf("pausing other: %v", err)
	}
	waitSet(t, all, "other paused", func(s messages.ContainerSet) bool {
		c, ok := find(s, run+"-other")
		return ok && c.State == "paused"
	})
	if _, err := dc.ContainerUnpause(ctx, other, client.ContainerUnpauseOptions{}); err != nil {
		t.Fatalf("unpausing other: %v", err)
	}
	waitSet(t, all, "other running again", func(s messages.ContainerSet) bool {
		c, ok := find(s, run+"-other")
		return ok && c.State == "running"
	})
	step("pause and unpause seen")

	// Never: a container without a labelgate label, or one outside the
	// filter in the filtered watcher.
	for i, s := range all.emitted() {
		if _, ok := find(s, run+"-plain"); ok {
			t.Errorf("set %d of the prefix watcher holds the unlabelled container", i)
		}
	}
	for i, s := range only.emitted() {
		for _, c := range s.Containers {
			if c.Labels["lgtest.run"] != run {
				t.Errorf("set %d of the filtered watcher holds %s, which lacks the filter label", i, c.Name)
			}
		}
	}
	for _, w := range []*recorder{all, only} {
		checkVersions(t, w.emitted())
		if st := w.lastStatus(); !st.Connected || st.Failures != 0 {
			t.Errorf("status = %+v, want connected without failures", st)
		}
	}
}

// watchEngine runs a Watcher on the real engine until the test ends.
func watchEngine(t *testing.T, cfg Config) *recorder {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- New(c, cfg, nil).Run(ctx, rec.emit, rec.status) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		_ = c.Close() // it closes idle connections; nothing is lost
	})
	return rec
}

// waitSet waits until the newest emitted set satisfies cond and returns it.
func waitSet(t *testing.T, rec *recorder, what string, cond func(messages.ContainerSet) bool) messages.ContainerSet {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		if sets := rec.emitted(); len(sets) > 0 && cond(sets[len(sets)-1]) {
			return sets[len(sets)-1]
		}
		if time.Now().After(deadline) {
			var last []string
			if sets := rec.emitted(); len(sets) > 0 {
				last = names(sets[len(sets)-1])
			}
			t.Fatalf("no set with %s after %v; last set: %v; status: %+v", what, settleTimeout, last, rec.lastStatus())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func find(s messages.ContainerSet, name string) (messages.Container, bool) {
	i := slices.IndexFunc(s.Containers, func(c messages.Container) bool { return c.Name == name })
	if i < 0 {
		return messages.Container{}, false
	}
	return s.Containers[i], true
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return hex.EncodeToString(b)
}

// cleanupContext outlives t.Context, which is cancelled before cleanups.
func cleanupContext(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
}

// buildSleeperImage compiles testdata/sleeper as a static binary, builds
// it FROM scratch and returns the image ID (not the shared tag, which
// another package's test may rebuild meanwhile).
func buildSleeperImage(ctx context.Context, t *testing.T, dc *client.Client) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sleeper")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/sleeper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the sleeper: %v\n%s", err, out)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("reading the sleeper: %v", err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := map[string]struct {
		mode int64
		data []byte
	}{
		"Dockerfile": {0o644, []byte("FROM scratch\nCOPY sleeper /sleeper\nENTRYPOINT [\"/sleeper\"]\n")},
		"sleeper":    {0o755, binary},
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatalf("writing the build context: %v", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatalf("writing the build context: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("writing the build context: %v", err)
	}

	res, err := dc.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{sleeperImageTag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("building %s: %v", sleeperImageTag, err)
	}
	defer res.Body.Close()
	var id string
	var log strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
			Aux    struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading the build output: %v", err)
		}
		if m.Error != "" {
			t.Fatalf("building %s: %s\n%s", sleeperImageTag, m.Error, log.String())
		}
		log.WriteString(m.Stream)
		if m.Aux.ID != "" {
			id = m.Aux.ID
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), "Successfully built "); ok && id == "" {
			id = rest
		}
	}
	if id == "" {
		t.Fatalf("building %s: no image ID in the output:\n%s", sleeperImageTag, log.String())
	}
	return id
}

func createNetwork(ctx context.Context, t *testing.T, dc *client.Client, name string) {
	t.Helper()
	res, err := dc.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{"lgtest": "dockerwatch"}})
	if err != nil {
		t.Fatalf("creating network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext(t)
		defer cancel()
		if _, err := dc.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{}); err != nil {
			t.Errorf("removing network %s: %v", name, err)
		}
	})
}

type containerSpec struct {
	name, image, network string
	labels               map[string]string
	healthy              bool // add a health check that passes
}

// startContainer creates and starts a container and registers its forced
// removal. Cleanups run last-in first-out, so containers go before their
// network.
func startContainer(ctx context.Context, t *testing.T, dc *client.Client, spec containerSpec) string {
	t.Helper()
	cfg := &container.Config{Image: spec.image, Labels: spec.labels}
	if spec.healthy {
		cfg.Healthcheck = &container.HealthConfig{
			Test:     []string{"CMD", "/sleeper", "health"},
			Interval: time.Second,
			Timeout:  5 * time.Second,
			Retries:  3,
		}
	}
	res, err := dc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       spec.name,
		Config:     cfg,
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(spec.network)},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			spec.network: {},
		}},
	})
	if err != nil {
		t.Fatalf("creating container %s: %v", spec.name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext(t)
		defer cancel()
		if _, err := dc.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Errorf("removing container %s: %v", spec.name, err)
		}
	})
	if _, err := dc.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("starting container %s: %v", spec.name, err)
	}
	return res.ID
}
