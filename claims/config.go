package claims

import (
	"strings"

	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// ConfigFrom is the claim configuration main's configuration gives: the
// label prefix and filter label, the resolved tunnels, the global default
// tunnel, every agent's default tunnel and scope, and the pinned Access
// templates (their problems are config.Load's to report). StartMain
// (actors/main.go) builds the same for the registry, inline;
// AnnouncedDefaults are learnt at run time.
func ConfigFrom(cfg config.Config) Config {
	var ignore []string
	if cfg.Docker.FilterLabel != "" {
		key, _, _ := strings.Cut(cfg.Docker.FilterLabel, "=")
		ignore = append(ignore, key)
	}
	refs := map[string]TunnelRef{}
	for name, t := range cfg.ResolvedTunnels() {
		refs[name] = TunnelRef{TunnelID: t.TunnelID, AccountID: t.AccountID, Credential: t.Credential}
	}
	agentDefaults := map[string]string{}
	scopes := map[string]Scope{}
	for name, a := range cfg.Agent.Agents {
		src := messages.AgentSource(name)
		if a.DefaultTunnel != "" {
			agentDefaults[src] = a.DefaultTunnel
		}
		if len(a.AllowedHostnames)+len(a.AllowedTunnels)+len(a.AllowedZones) > 0 {
			scopes[src] = Scope{Hostnames: a.AllowedHostnames, Zones: a.AllowedZones, Tunnels: a.AllowedTunnels}
		}
	}
	pinned, _ := cfg.PinnedTemplates()
	return Config{
		Labels:  labels.Options{Prefix: cfg.LabelPrefix, Ignore: ignore},
		Tunnels: refs, DefaultTunnel: cfg.DefaultTunnel, AgentDefaults: agentDefaults, Scopes: scopes, Pinned: pinned,
	}
}
