package actors

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/claims"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/publicip"
	"github.com/labelgate/labelgate/store"
)

// MainDeps are what the main actor tree needs besides its configuration;
// tests replace the boundaries.
type MainDeps struct {
	DB     *store.Store
	Logger *slog.Logger
	// NewAPI builds a Cloudflare client for a token and account; cfapi.New
	// over Config.Cloudflare.APIURL when nil.
	NewAPI func(token, accountID string) (cfapi.API, error)
	// NewDocker builds the Docker client; dockerwatch.NewClient when nil.
	NewDocker func(dockerwatch.Config) (dockerwatch.Client, error)
	// PublicIP overrides the discoverer (its sources come from the config).
	PublicIP *publicip.Discoverer
	// Metrics receives what the actors observe (metrics.Metrics implements all
	// three interfaces); nil records nothing.
	Metrics interface {
		CloudflareMetrics
		PlannerMetrics
		DockerMetrics
	}
}

// Main is a running main (or agent) instance: its actor system and its
// children's PIDs. Code outside the actors reads it through its read API
// (reads.go: Ask, PlannerStatuses, Owned, Cloudflare, Resync).
type Main struct {
	System   *actor.ActorSystem
	Root     *actor.PID
	Children map[string]*actor.PID
}

// Child names in the tree.
const (
	ChildStore       = "store"
	ChildRegistry    = "registry"
	ChildDNS         = "dns"
	ChildAccess      = "access"
	ChildDockerWatch = "dockerwatch"
	ChildPublicIP    = "publicip"
	ChildAgents      = "agents"
	ChildListener    = "agentlistener"
)

// ChildDialer names main's dialer of an inbound agent.
func ChildDialer(agent string) string { return "agentdialer-" + agent }

// plannerDebounce is how long a planner waits after a desired-state change
// before it reconciles. Bursts are already coalesced upstream (the Docker
// watcher's docker.debounce, the registry's emission window), so this only
// gathers changes that arrive together, e.g. from several agents; a
// reconcile in flight coalesces everything that arrives meanwhile.
const plannerDebounce = 50 * time.Millisecond

// ChildCloudflare names the cloudflare actor of a credential.
func ChildCloudflare(credential string) string { return "cloudflare-" + credential }

// ChildTunnel names the actor of a configured tunnel.
func ChildTunnel(name string) string { return "tunnel-" + name }

// StartMain builds and starts main's actor tree (DESIGN §2):
//
//	main (supervisor, one for one, capped backoff)
//	├── store
//	├── cloudflare-<credential>   one per API token: the budget
//	├── tunnel-<name>             one per configured tunnel
//	├── dns → zone-<zone>-<id>@<credential>  one per zone in use, one credential each
//	├── access
//	├── registry                  the single decider
//	├── agents                    the directory of agents: connected, frozen, stale
//	├── agentlistener             outbound mode: agents dial in
//	│   └── agentsession          one per connection
//	├── agentdialer-<name>        inbound mode: main dials each agent
//	│   └── agentsession
//	├── dockerwatch               main's own Docker engine
//	└── publicip
func StartMain(cfg config.Config, deps MainDeps) (*Main, error) {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	newAPI := deps.NewAPI
	if newAPI == nil {
		newAPI = func(token, account string) (cfapi.API, error) {
			return cfapi.New(cfapi.Config{BaseURL: cfg.Cloudflare.APIURL, Token: token, AccountID: account})
		}
	}
	newDocker := deps.NewDocker
	if newDocker == nil {
		newDocker = dockerwatch.NewClient
	}
	var cfMetrics CloudflareMetrics
	var plannerMetrics PlannerMetrics
	var dockerMetrics DockerMetrics
	if deps.Metrics != nil {
		cfMetrics, plannerMetrics, dockerMetrics = deps.Metrics, deps.Metrics, deps.Metrics
	}
	creds := cfg.ResolvedCredentials()
	tunnels := cfg.ResolvedTunnels()
	if len(creds) == 0 {
		return nil, fmt.Errorf("no Cloudflare credential is configured")
	}
	// Every consumer's credential is resolved once, here, and must be a
	// configured one: no actor is ever started with a nil cloudflare PID.
	// config.Load has reported all of this already; this guards callers
	// that build a Config by hand.
	rules, err := cfg.CredentialRules()
	if err != nil {
		return nil, fmt.Errorf("cloudflare credentials: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(tunnels)) {
		if c := tunnels[name].Credential; !rules.Has(c) {
			return nil, fmt.Errorf("tunnel %s uses credential %q, which is not configured", name, c)
		}
	}

	planner := func(pids map[string]*actor.PID, credential string) PlannerConfig {
		return PlannerConfig{
			Debounce: plannerDebounce, Interval: cfg.Sync.Interval, Policy: string(cfg.Sync.Policy), DryRun: cfg.DryRun,
			Cloudflare: pids[ChildCloudflare(credential)], Store: pids[ChildStore], Logger: log, Metrics: plannerMetrics,
		}
	}

	var specs []ChildSpec
	specs = append(specs, ChildSpec{Name: ChildStore, Props: func(map[string]*actor.PID) *actor.Props {
		return NewStoreProps(deps.DB, log.With("actor", "store"))
	}})
	for _, name := range slices.Sorted(maps.Keys(creds)) {
		token := creds[name].APIToken.Reveal()
		specs = append(specs, ChildSpec{Name: ChildCloudflare(name), Props: func(map[string]*actor.PID) *actor.Props {
			return NewCloudflareProps(CloudflareConfig{
				Credential: name, Rate: cfg.Cloudflare.RequestsPerSecond, Burst: cfg.Cloudflare.Burst,
				NewAPI:  func(account string) (cfapi.API, error) { return newAPI(token, account) },
				Logger:  log.With("actor", "cloudflare", "credential", name),
				Metrics: cfMetrics,
			})
		}})
	}
	var subscribers []string
	for _, name := range slices.Sorted(maps.Keys(tunnels)) {
		t := tunnels[name]
		ref := TunnelRef{TunnelID: t.TunnelID, AccountID: t.AccountID, Credential: t.Credential}
		specs = append(specs, ChildSpec{Name: ChildTunnel(name), Props: func(pids map[string]*actor.PID) *actor.Props {
			return NewTunnelProps(name, ref, planner(pids, ref.Credential))
		}})
		subscribers = append(subscribers, ChildTunnel(name))
	}
	specs = append(specs, ChildSpec{Name: ChildDNS, Props: func(pids map[string]*actor.PID) *actor.Props {
		cpids := map[string]*actor.PID{}
		for name := range creds {
			cpids[name] = pids[ChildCloudflare(name)]
		}
		// The DNS actor has no credential of its own: each zone actor gets
		// its zone's (ZoneCredential) from Credentials.
		pc := planner(pids, "")
		pc.Cloudflare = nil
		return NewDNSProps(DNSConfig{
			PlannerConfig: pc, Credentials: cpids,
			RecordCredential: func(r messages.DesiredRecord) string { return rules.Record(r.Name, r.Credential, r.Tunnel) },
			ZoneCredential:   rules.Zone,
			CommentLimit:     cfg.Cloudflare.CommentLimit, BatchSize: cfg.Cloudflare.BatchSize,
		})
	}})
	subscribers = append(subscribers, ChildDNS)
	if acc := rules.Access; acc.AccountID != "" {
		log.Info("Access applications are managed in one account", "account", acc.AccountID, "credential", acc.Credential, "chosen_by", acc.From)
		specs = append(specs, ChildSpec{Name: ChildAccess, Props: func(pids map[string]*actor.PID) *actor.Props {
			return NewAccessProps(AccessConfig{PlannerConfig: planner(pids, acc.Credential), AccountID: acc.AccountID})
		}})
		subscribers = append(subscribers, ChildAccess)
	} else {
		log.Warn("no Cloudflare account id is configured, so access labels cannot be applied and the routes they protect are not published; set LABELGATE_CLOUDFLARE_ACCOUNT_ID")
	}

	known := []string{messages.LocalSource}
	for name := range cfg.Agent.Agents {
		known = append(known, messages.AgentSource(name))
	}
	specs = append(specs, ChildSpec{Name: ChildRegistry, Props: func(pids map[string]*actor.PID) *actor.Props {
		return NewRegistryProps(RegistryConfig{
			Claims:      claims.ConfigFrom(cfg), // the inputs `labelgate check` judges with, too
			RemoveDelay: cfg.Sync.RemoveDelay, SettleTimeout: cfg.Sync.SettleTimeout, KnownSources: known,
			Store: pids[ChildStore], Subscribers: pidsOf(pids, subscribers), Logger: log.With("actor", "registry"),
		})
	}})
	agentInfo := map[string]AgentInfo{}
	for name, a := range cfg.Agent.Agents {
		agentInfo[name] = AgentInfo{DefaultTunnel: a.DefaultTunnel, AllowedHostnames: a.AllowedHostnames, AllowedZones: a.AllowedZones,
			AllowedTunnels: a.AllowedTunnels, Inbound: a.Inbound(), TokenFingerprint: TokenFingerprint(a.Token.Reveal())}
	}
	specs = append(specs, ChildSpec{Name: ChildAgents, Props: func(pids map[string]*actor.PID) *actor.Props {
		return NewAgentsProps(AgentsConfig{Configured: agentInfo, StaleTTL: cfg.Agent.StaleTTL, Registry: pids[ChildRegistry], Store: pids[ChildStore], Logger: log.With("actor", "agents")})
	}})
	agentSpecs, err := agentConnectionSpecs(cfg, log)
	if err != nil {
		return nil, err
	}
	specs = append(specs, agentSpecs...)
	specs = append(specs, ChildSpec{Name: ChildDockerWatch, Props: func(pids map[string]*actor.PID) *actor.Props {
		return NewDockerWatchProps(DockerWatchConfig{
			Watch:     WatchConfig(cfg),
			NewClient: newDocker, Sink: pids[ChildRegistry], Logger: log, Metrics: dockerMetrics,
		})
	}})
	disc := publicip.Discoverer{Sources: cfg.Sync.PublicIPSources}
	if deps.PublicIP != nil {
		disc = *deps.PublicIP
	}
	specs = append(specs, ChildSpec{Name: ChildPublicIP, Props: func(pids map[string]*actor.PID) *actor.Props {
		return NewPublicIPProps(PublicIPConfig{Discoverer: disc, Interval: cfg.Sync.PublicIPInterval, Registry: pids[ChildRegistry], Logger: log})
	}})

	return startTree("main", specs, log)
}

// startTree starts a supervisor of specs under a fresh actor system whose
// own logging goes to logger.
func startTree(name string, specs []ChildSpec, log *slog.Logger) (*Main, error) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("lib", "protoactor")
	}))
	root, err := sys.Root.SpawnNamed(NewSupervisorProps(specs, log), name)
	if err != nil {
		return nil, err
	}
	res, err := sys.Root.RequestFuture(root, messages.QueryChildren{}, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("starting the actor tree: %w", err)
	}
	return &Main{System: sys, Root: root, Children: res.(map[string]*actor.PID)}, nil
}

// Stop stops the tree, children last-started first, draining queued
// messages (the store's pending writes among them), then the system.
func (m *Main) Stop() {
	_ = m.System.Root.PoisonFuture(m.Root).Wait()
	m.System.Shutdown()
}

func pidsOf(pids map[string]*actor.PID, names []string) []*actor.PID {
	var out []*actor.PID
	for _, n := range names {
		if p := pids[n]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// agentConnectionSpecs builds main's side of agent mode: the listener for
// agents that dial in (agent.enabled) and a dialer per agent with a
// connect_to.
func agentConnectionSpecs(cfg config.Config, log *slog.Logger) ([]ChildSpec, error) {
	opts := bridge.Options{Heartbeat: cfg.Agent.HeartbeatInterval, MaxFrameBytes: cfg.Agent.MaxFrameBytes, Logger: log.With("lib", "bridge")}
	var keys bridge.Keys
	var specs []ChildSpec
	for _, name := range slices.Sorted(maps.Keys(cfg.Agent.Agents)) {
		a := cfg.Agent.Agents[name]
		key := bridge.Key{Name: name, Token: []byte(a.Token.Reveal())}
		if !a.Inbound() {
			keys = append(keys, key)
			continue
		}
		dial := bridge.DialConfig{URL: a.ConnectTo, Role: bridge.RoleMain, Key: key,
			TLS: bridge.ClientTLS{CAFile: a.TLSCA, Insecure: a.TLSInsecure}, Options: opts}
		specs = append(specs, ChildSpec{Name: ChildDialer(name), Props: func(pids map[string]*actor.PID) *actor.Props {
			return NewAgentDialerProps(AgentDialerConfig{Name: name, Dial: dial, Registry: pids[ChildRegistry], Agents: pids[ChildAgents], Logger: log})
		}})
	}
	if !cfg.Agent.Enabled {
		return specs, nil
	}
	selfFile := filepath.Join(cfg.DataDir, "agent-listener.pem")
	tlsCfg, selfSigned, err := bridge.ServerTLSConfig(bridge.ServerTLS{
		CertFile: cfg.Agent.TLS.Cert, KeyFile: cfg.Agent.TLS.Key, ClientCAFile: cfg.Agent.TLS.ClientCA,
		SelfSignedFile: selfFile, Hosts: selfSignedHosts(),
	})
	if err != nil {
		return nil, fmt.Errorf("preparing the agent listener's TLS: %w", err)
	}
	if selfSigned {
		log.Info("the agent listener serves a self-signed certificate to wss:// agents (no agent.tls.cert); they are authenticated by the token proof bound to the TLS session, or pin the certificate with connect.tls.ca",
			"certificate", bridge.PublicCertFile(selfFile))
	}
	require := cfg.Agent.TLS.Cert != "" || cfg.Agent.TLS.ClientCA != "" || cfg.Agent.RequireTLS
	tlsFor := map[string]bool{}
	for name, a := range cfg.Agent.Agents {
		if a.RequireTLS {
			tlsFor[name] = true
		}
	}
	specs = append([]ChildSpec{{Name: ChildListener, Props: func(pids map[string]*actor.PID) *actor.Props {
		return NewAgentListenerProps(AgentListenerConfig{Addr: cfg.Agent.Listen, Keys: keys, TLS: tlsCfg, RequireTLS: require,
			TLSRequiredFor: tlsFor, MaxPending: cfg.Agent.MaxPendingHandshakes, MaxPendingPerAddress: cfg.Agent.MaxPendingHandshakesPerAddress,
			Options: opts, Registry: pids[ChildRegistry], Agents: pids[ChildAgents], Logger: log})
	}}}, specs...)
	return specs, nil
}

// selfSignedHosts are the names a generated certificate carries: this host's
// name and loopback. Agents that pin the certificate (connect.tls.ca) match
// it exactly, so the names are a convenience for other tools.
func selfSignedHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return hosts
}
