package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"go.yaml.in/yaml/v3"
)

// Issue 14's Swarm scenario, on the real engine: deploy/compose/swarm/
// stack.yaml is deployed with `docker stack deploy`, main running as a
// Swarm service as documented, against cfsim. The stack's labelled service
// is routed; `docker service scale` to 0 keeps it; `docker service update
// --label-add` changes the route; `docker service rm` takes it away after
// the grace, not before.
//
// The test swarm-inits the engine when it is not in a swarm (and leaves it
// at the end, only then); an engine that is a Swarm worker skips it. It does
// not call t.Parallel: while it runs, no other test's main watches an
// engine that is suddenly a Swarm manager.
//
// What is changed from the documented file, and why: the images (no
// registry here: ours, the example service running `labelgate hello`),
// cloudflared dropped (its image cannot be pulled, and nothing here needs a
// connector), the edge network made external so cfsim can join it before
// main starts, and main's environment extended by what points it at cfsim
// (API URL, no public-IP lookup, a short grace, a filter label so that it
// sees only this test's services). Main's socket mount, data volume,
// placement, LABELGATE_DOCKER_SWARM and the service's deploy.labels are the
// file's.
const (
	stackFile  = "../deploy/compose/swarm/stack.yaml"
	swarmGrace = 8 * time.Second
	swarmHost  = "whoami.example.com"
)

func TestSwarmStackAsDocumented(t *testing.T) {
	env := Setup(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed; the stack is deployed with `docker stack deploy`")
	}
	ensureSwarmManager(t, env)

	c := NewCluster(t, env, swarmGrace)
	stack := "lge2e" + env.Run
	edge := env.Name("edge")
	ctx := context.Background()
	if _, err := env.Docker.NetworkCreate(ctx, edge, client.NetworkCreateOptions{Driver: "overlay", Attachable: true,
		Labels: map[string]string{RunLabel: env.Run}}); err != nil {
		t.Fatalf("creating the overlay network: %v", err)
	}
	t.Cleanup(func() {
		env.Remove(c.CfsimID) // its endpoint would keep the network in use
		removeWhenFree(t, func() error { _, err := env.Docker.NetworkRemove(ctx, edge, client.NetworkRemoveOptions{}); return err })
	})
	env.Connect(c.CfsimID, edge, "cfsim")

	filter := HostLabel + "=" + c.HostValue("swarm")
	path := writeTestStack(t, c, edge, filter)
	dockerCLI(t, "stack", "deploy", "--resolve-image", "never", "--detach=true", "-c", path, stack)
	t.Cleanup(func() { removeStack(t, env, stack) })

	web := stack + "_whoami"
	start := time.Now()
	Eventually(t, 2*time.Minute, "the stack's service routed, with its CNAME", func() bool {
		sn, err := SnapshotOf(c.Sim.MustState(), c.TunnelID)
		r, ok := sn.Rule(swarmHost)
		_, cname := sn.Record("CNAME", swarmHost)
		return err == nil && ok && r.Service == "http://whoami:80" && cname
	})
	t.Logf("%s routed %.1fs after docker stack deploy (main's own start included)", swarmHost, time.Since(start).Seconds())

	// Scaled to 0, the service still exists: its claims stay. Past the
	// whole grace, a service that had left the set would have taken its
	// route with it.
	dockerCLI(t, "service", "scale", "--detach", web+"=0")
	time.Sleep(swarmGrace + 3*time.Second)
	if sn, err := SnapshotOf(c.Sim.MustState(), c.TunnelID); err != nil {
		t.Fatal(err)
	} else if r, ok := sn.Rule(swarmHost); !ok || r.Service != "http://whoami:80" {
		t.Fatalf("%v after scaling to 0 (grace %v), the rule is %+v (present %v); want it kept", swarmGrace+3*time.Second, swarmGrace, r, ok)
	}
	dockerCLI(t, "service", "update", "--detach", "--label-add", "labelgate.tunnel.whoami.service=http://whoami:8080", web)
	start = time.Now()
	Eventually(t, time.Minute, "the route to follow the service's new label", func() bool {
		sn, err := SnapshotOf(c.Sim.MustState(), c.TunnelID)
		r, ok := sn.Rule(swarmHost)
		return err == nil && ok && r.Service == "http://whoami:8080"
	})
	t.Logf("label update applied to the scaled-to-0 service in %.1fs", time.Since(start).Seconds())

	dockerCLI(t, "service", "rm", web)
	removed := time.Now()
	var gone time.Time
	Eventually(t, swarmGrace+time.Minute, "the route and CNAME to go after the grace", func() bool {
		sn, err := SnapshotOf(c.Sim.MustState(), c.TunnelID)
		_, rule := sn.Rule(swarmHost)
		_, cname := sn.Record("CNAME", swarmHost)
		if err == nil && !rule && !cname {
			gone = time.Now()
			return true
		}
		return false
	})
	if d := gone.Sub(removed); d < swarmGrace {
		t.Errorf("the route went %.1fs after docker service rm, before the %v grace", d.Seconds(), swarmGrace)
	} else {
		t.Logf("route and CNAME gone %.1fs after docker service rm (grace %v)", d.Seconds(), swarmGrace)
	}
	sn, err := SnapshotOf(c.Sim.MustState(), c.TunnelID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sn.Record("A", "legacy.example.com"); !ok {
		t.Errorf("the foreign record legacy.example.com is gone")
	}
	if _, ok := sn.Rule("manual.example.com"); !ok {
		t.Errorf("the foreign rule manual.example.com is gone")
	}
}

// ensureSwarmManager makes the engine a single-node Swarm manager for the
// test: it inits one when the engine is in no swarm (and leaves it at the
// end), uses an existing manager as it is, and skips on anything else.
func ensureSwarmManager(t *testing.T, env *Env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := env.Docker.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	sw := info.Info.Swarm
	switch {
	case sw.LocalNodeState == swarm.LocalNodeStateActive && sw.ControlAvailable:
		t.Log("the engine is already a Swarm manager; using its swarm, not leaving it")
		return
	case sw.LocalNodeState != swarm.LocalNodeStateInactive:
		t.Skipf("the engine is in swarm state %q and not a manager; the Swarm test needs a manager or no swarm", sw.LocalNodeState)
	}
	_, gwErr := env.Docker.NetworkInspect(ctx, "docker_gwbridge", client.NetworkInspectOptions{})
	hadGateway := gwErr == nil
	if _, err := env.Docker.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1"}); err != nil {
		t.Fatalf("docker swarm init: %v", err)
	}
	t.Log("docker swarm init: this test leaves the swarm at the end")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := env.Docker.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: true}); err != nil {
			t.Errorf("docker swarm leave --force: %v", err)
		}
		if !hadGateway { // swarm init created it; the engine was as before
			_, _ = env.Docker.NetworkRemove(ctx, "docker_gwbridge", client.NetworkRemoveOptions{})
		}
	})
}

// writeTestStack writes the documented stack with the changes the test
// header lists and returns its path.
func writeTestStack(t *testing.T, c *Cluster, edge, filter string) string {
	t.Helper()
	data, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", stackFile, err)
	}
	services, _ := doc["services"].(map[string]any)
	main, _ := services["labelgate"].(map[string]any)
	whoami, _ := services["whoami"].(map[string]any)
	if main == nil || whoami == nil || services["cloudflared"] == nil {
		t.Fatalf("%s no longer has the services labelgate, cloudflared and whoami this test deploys", stackFile)
	}
	delete(services, "cloudflared")
	main["image"] = c.Image
	envList, _ := main["environment"].([]any)
	main["environment"] = append(envList,
		"LABELGATE_CLOUDFLARE_API_URL=http://cfsim:8787",
		"LABELGATE_SYNC_PUBLIC_IP_SOURCES=http://127.0.0.1:1/",
		"LABELGATE_SYNC_REMOVE_DELAY="+swarmGrace.String(),
		"LABELGATE_DOCKER_DEBOUNCE=200ms",
		"LABELGATE_DOCKER_FILTER_LABEL="+filter,
	)
	whoami["image"] = c.Image
	whoami["command"] = []string{"hello"}
	deploy, _ := whoami["deploy"].(map[string]any)
	lbls, _ := deploy["labels"].(map[string]any)
	if lbls == nil {
		t.Fatalf("%s: whoami has no deploy.labels map", stackFile)
	}
	k, v, _ := strings.Cut(filter, "=")
	lbls[k] = v
	doc["networks"] = map[string]any{"edge": map[string]any{"external": true, "name": edge}}

	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stack.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dockerCLI runs the docker CLI with the variables the stack file takes
// from the deploying shell set to cfsim's account.
func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(),
		"LABELGATE_CLOUDFLARE_API_TOKEN="+simToken,
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID="+simAccount,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID="+simTunnelID,
		"TUNNEL_TOKEN=unused",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// removeStack removes the stack, shows main's log when the test failed,
// waits for its containers to go and removes its volume.
func removeStack(t *testing.T, env *Env, stack string) {
	if t.Failed() {
		if out, err := exec.Command("docker", "service", "logs", "--tail", "80", stack+"_labelgate").CombinedOutput(); err == nil {
			t.Logf("main's log (last 80 lines):\n%s", out)
		}
	}
	if out, err := exec.Command("docker", "stack", "rm", stack).CombinedOutput(); err != nil {
		t.Errorf("docker stack rm %s: %v\n%s", stack, err, out)
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		res, err := env.Docker.ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", "com.docker.stack.namespace="+stack)})
		if err == nil && len(res.Items) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	removeWhenFree(t, func() error {
		_, err := env.Docker.VolumeRemove(ctx, stack+"_labelgate-data", client.VolumeRemoveOptions{Force: true})
		return err
	})
}

// removeWhenFree retries a removal while the object is still in use (a
// task container going away), for up to 30 s.
func removeWhenFree(t *testing.T, remove func() error) {
	var err error
	for range 60 {
		if err = remove(); err == nil || strings.Contains(err.Error(), "No such") || strings.Contains(err.Error(), "not found") {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("cleanup: %v", err)
}

// The service shown in docs/deploy.md's Swarm section is the stack file's,
// so the example users read is the one the tests deploy. No Docker needed.
func TestDeployDocSwarmExampleIsTheStackFile(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Docker Swarm\n")
	if !ok {
		t.Fatal("docs/deploy.md has no Docker Swarm section")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the Docker Swarm section has no yaml example")
	}
	data, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	var example, stack struct {
		Services map[string]yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(block), &example); err != nil {
		t.Fatalf("the example: %v", err)
	}
	if err := yaml.Unmarshal(data, &stack); err != nil {
		t.Fatal(err)
	}
	if len(example.Services) == 0 {
		t.Fatal("the example shows no service")
	}
	for name, node := range example.Services {
		var got, want any
		if err := node.Decode(&got); err != nil {
			t.Fatal(err)
		}
		n, ok := stack.Services[name]
		if !ok {
			t.Errorf("the example's service %s is not in %s", name, stackFile)
			continue
		}
		if err := n.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("service %s differs between docs/deploy.md and %s (-file +doc):\n%s", name, stackFile, diff)
		}
	}
}
