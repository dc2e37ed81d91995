package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/deploy/imagebuild"
)

// DockerEndpoint is the engine the real-Docker scenarios use.
const DockerEndpoint = "unix:///var/run/docker.sock"

// RunLabel marks every container a benchmark run creates; its value is the
// run id, so main and agents can watch only their run (docker.filter_label).
const RunLabel = "lgbench.run"

// ImageTag is the image the real-Docker scenarios build from the labelgate
// binary under test (deploy/Dockerfile, FROM scratch) and run `labelgate
// hello` workloads from. It is its own tag so it never races the e2e tests'
// labelgate:e2e.
const ImageTag = "labelgate:bench"

// DockerEnv is a benchmark run's handle on the local Docker engine.
type DockerEnv struct {
	Docker *client.Client
	Run    string
	mu     sync.Mutex
	ids    []string
}

// NewDockerEnv connects to the local engine; an error means there is none.
func NewDockerEnv(ctx context.Context) (*DockerEnv, error) {
	dc, err := client.New(client.WithHost(DockerEndpoint))
	if err != nil {
		return nil, fmt.Errorf("creating the Docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := dc.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = dc.Close() // the Ping error is the one to report
		return nil, fmt.Errorf("the Docker engine at %s does not answer: %w", DockerEndpoint, err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &DockerEnv{Docker: dc, Run: hex.EncodeToString(b)}, nil
}

// Filter is the docker.filter_label value that selects this run.
func (e *DockerEnv) Filter() string { return RunLabel + "=" + e.Run }

// Close removes every container the run created and closes the client.
func (e *DockerEnv) Close() {
	e.RemoveAll()
	_ = e.Docker.Close() // it closes idle connections; nothing is lost
}

// RemoveAll removes every container the run created so far; a scenario
// calls it when done, so its workloads do not run under the next one.
func (e *DockerEnv) RemoveAll() {
	e.mu.Lock()
	ids := e.ids
	e.ids = nil
	e.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			e.Remove(id)
		}()
	}
	wg.Wait()
}

// Remove force-removes a container.
func (e *DockerEnv) Remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = e.Docker.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
}

// CreateHello creates (without starting) a `labelgate hello` container of
// this run with labels; it is removed at Close.
func (e *DockerEnv) CreateHello(ctx context.Context, name string, labels map[string]string) (string, error) {
	l := maps.Clone(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[RunLabel] = e.Run
	// No health check: the image's HEALTHCHECK execs `labelgate healthcheck`
	// every 30 s, which across dozens of workloads is CPU the benchmarks
	// would measure as noise (and health_status events the watcher sees).
	cfg := &container.Config{Image: ImageTag, Cmd: []string{"hello"}, Labels: l,
		Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}
	res, err := e.Docker.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "lgbench-" + e.Run + "-" + name, Config: cfg,
		HostConfig: &container.HostConfig{}})
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", name, err)
	}
	e.mu.Lock()
	e.ids = append(e.ids, res.ID)
	e.mu.Unlock()
	return res.ID, nil
}

// Start starts a created container.
func (e *DockerEnv) Start(ctx context.Context, id string) error {
	if _, err := e.Docker.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting %s: %w", id, err)
	}
	return nil
}

// Pid is a running container's main process as the host sees it.
func (e *DockerEnv) Pid(ctx context.Context, id string) (int, error) {
	res, err := e.Docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return 0, fmt.Errorf("inspecting %s: %w", id, err)
	}
	if res.Container.State == nil || res.Container.State.Pid == 0 {
		return 0, fmt.Errorf("%s is not running", id)
	}
	return res.Container.State.Pid, nil
}

// BuildImage builds ImageTag from the labelgate binary at bin and
// deploy/Dockerfile under root (the module root), as `make image` does.
func (e *DockerEnv) BuildImage(ctx context.Context, root, bin string) error {
	return imagebuild.Build(ctx, e.Docker, root, bin, ImageTag)
}
