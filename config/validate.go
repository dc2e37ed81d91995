package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	reLabelPrefix = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*$`)
	reName        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	reUUID        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reAccountID   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	reZone        = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$`)
	// reHostnamePattern is what MatchHostname understands: an exact name of
	// two or more labels, or "*." followed by one.
	reHostnamePattern = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$`)
)

const (
	maxRequestsPerSecond = 4    // Cloudflare allows 1,200 requests per 5 minutes per token
	maxBurst             = 1200 // the whole 5-minute allowance at once
	minFrameBytes        = 64 << 10
	allowedNames         = "letters, digits, '.', '_' and '-', starting with a letter or digit"
)

// validate checks cfg after all sources are merged and secret files read.
// Sections the mode does not read are not checked (see uses).
func (l *loader) validate(c *Config) {
	ps := &l.problems
	main, agent := c.Mode == ModeMain, c.Mode == ModeAgent
	if !main && !agent {
		ps.add("mode", "%q is not a mode; want main or agent", c.Mode)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		ps.add("log_level", "%q is not a log level; want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		ps.add("log_format", "%q is not a log format; want text or json", c.LogFormat)
	}
	if !reLabelPrefix.MatchString(c.LabelPrefix) {
		ps.add("label_prefix", "%q is not a label key prefix; want lowercase letters, digits, '-' and '.', without a leading, trailing or doubled dot (e.g. labelgate)", c.LabelPrefix)
	}
	if !reName.MatchString(c.DefaultTunnel) {
		ps.add("default_tunnel", "%q is not a tunnel name; want %s", c.DefaultTunnel, allowedNames)
	}
	l.validateDocker(c)
	if main {
		l.validateCloudflare(c)
		l.validateSync(c)
		l.validateMainServices(c)
		l.validateAgents(c)
		l.validateAccess(c)
	}
	if agent {
		l.validateConnect(c)
		l.refuseMainSettings(c)
	}
}

// refuseMainSettings stops an agent that was given main's settings: an
// agent never holds a Cloudflare token nor accepts agents, and a value set
// for it is a deployment mistake worth stopping for (a token on a host that
// should not have it, or main's compose file run as an agent).
func (l *loader) refuseMainSettings(c *Config) {
	ps := &l.problems
	const why = "an agent never calls Cloudflare: only main needs this; remove it from the agent's configuration"
	if c.Cloudflare.APIToken.IsSet() || c.Cloudflare.APITokenFile != "" {
		ps.add("cloudflare.api_token", "%s", why)
	}
	if len(c.Cloudflare.Credentials) > 0 {
		ps.add("cloudflare.credentials", "%s", why)
	}
	if c.Agent.Enabled {
		ps.add("agent.enabled", "an agent does not accept other agents: agent.enabled is main's setting (the agent connects with connect.*)")
	}
	if len(c.Agent.Agents) > 0 {
		ps.add("agent.agents", "the list of agents is main's setting; an agent only needs connect.token")
	}
}

func (l *loader) validateDocker(c *Config) {
	ps := &l.problems
	d := c.Docker
	if msg := dockerEndpointProblem(d.Endpoint); msg != "" {
		if h := l.env["DOCKER_HOST"]; h != "" && h == d.Endpoint && l.env[envFor("docker.endpoint")] == "" {
			msg += " (the value was taken from DOCKER_HOST)"
		}
		ps.add("docker.endpoint", "%s", msg)
	}
	positive(ps, "docker.poll_interval", d.PollInterval, "it is the period of the full container re-list")
	positive(ps, "docker.debounce", d.Debounce, "use a small window such as 500ms")
	switch d.Swarm {
	case "auto", "true", "false":
	default:
		ps.add("docker.swarm", "%q is not a Swarm mode; want auto (watch services when the engine is a Swarm manager), true or false", d.Swarm)
	}
	if d.FilterLabel != "" {
		k, _, _ := strings.Cut(d.FilterLabel, "=")
		if k == "" || strings.ContainsAny(k, " \t\n") {
			ps.add("docker.filter_label", "%q is not a label filter; want key or key=value", d.FilterLabel)
		}
	}
	tlsSet := d.TLS.CA != "" || d.TLS.Cert != "" || d.TLS.Key != ""
	if tlsSet && !strings.HasPrefix(d.Endpoint, "tcp://") {
		ps.add("docker.tls", "TLS files are only used with a tcp:// endpoint; docker.endpoint is %q", d.Endpoint)
	}
	l.certPair("docker.tls.cert", d.TLS.Cert, "docker.tls.key", d.TLS.Key)
	l.readable("docker.tls.ca", d.TLS.CA)
}

func dockerEndpointProblem(endpoint string) string {
	const want = "want unix:///path/to/docker.sock or tcp://host:port"
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Sprintf("%q is not a URL; %s", endpoint, want)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return fmt.Sprintf("%q has no socket path; %s", endpoint, want)
		}
	case "tcp":
		if u.Hostname() == "" {
			return fmt.Sprintf("%q has no host; %s", endpoint, want)
		}
	default:
		return fmt.Sprintf("%q is not supported; %s", endpoint, want)
	}
	return ""
}

func (l *loader) validateCloudflare(c *Config) {
	ps := &l.problems
	cf := c.Cloudflare
	if !cf.APIToken.IsSet() && len(cf.Credentials) == 0 {
		ps.add("cloudflare.api_token", "main needs a Cloudflare API token: set cloudflare.api_token (or its _file form) or define at least one entry in cloudflare.credentials")
	}
	if cf.AccountID != "" && !reAccountID.MatchString(cf.AccountID) {
		ps.add("cloudflare.account_id", "%q is not an account id; copy the 32-character id from the Cloudflare dashboard", cf.AccountID)
	}
	if cf.TunnelID != "" {
		if !reUUID.MatchString(cf.TunnelID) {
			ps.add("cloudflare.tunnel_id", "%q is not a tunnel id; want a UUID such as 6ff42ae2-765d-4adf-8112-31c55c1551ef", cf.TunnelID)
		}
		if cf.AccountID == "" {
			ps.add("cloudflare.account_id", "cloudflare.tunnel_id is set, so the tunnel named default needs cloudflare.account_id too")
		}
		if t, ok := cf.Tunnels[DefaultTunnelName]; ok {
			acct := t.AccountID
			if acct == "" {
				acct = cf.AccountID
			}
			if !strings.EqualFold(t.TunnelID, cf.TunnelID) || acct != cf.AccountID {
				ps.add("cloudflare.tunnel_id", "cloudflare.account_id/tunnel_id define the tunnel named default, and cloudflare.tunnels.default disagrees with them; remove one of the two or make them equal")
			}
		}
	}
	if u, err := url.Parse(cf.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add("cloudflare.api_url", "%q is not an http(s) URL; want e.g. https://api.cloudflare.com/client/v4", cf.APIURL)
	}
	if !(cf.RequestsPerSecond > 0 && cf.RequestsPerSecond <= maxRequestsPerSecond) {
		ps.add("cloudflare.requests_per_second", "%v is out of range; want more than 0 and at most 4 (Cloudflare allows 1,200 requests per 5 minutes)", cf.RequestsPerSecond)
	}
	if cf.Burst < 1 || cf.Burst > maxBurst {
		ps.add("cloudflare.burst", "%d is out of range; want 1 to %d", cf.Burst, maxBurst)
	}
	if cf.CommentLimit < 1 {
		ps.add("cloudflare.comment_limit", "%d is out of range; want the DNS comment length of your plan (100 on Free, 500 on paid plans)", cf.CommentLimit)
	}
	if cf.BatchSize < 1 {
		ps.add("cloudflare.batch_size", "%d is out of range; want at least 1", cf.BatchSize)
	}

	if _, ok := cf.Credentials[DefaultCredentialName]; ok && cf.APIToken.IsSet() {
		ps.add("cloudflare.credentials.default", "cloudflare.api_token already defines the credential named default; remove one of the two")
	}
	for _, name := range slices.Sorted(maps.Keys(cf.Credentials)) {
		key := "cloudflare.credentials." + name
		if !reName.MatchString(name) {
			ps.add(key, "%q is not a credential name; want %s", name, allowedNames)
		}
		cred := cf.Credentials[name]
		if !cred.APIToken.IsSet() && cred.APITokenFile == "" {
			ps.add(key+".api_token", "credential %s has no token; set api_token or api_token_file", name)
		}
		for i, z := range cred.Zones {
			if !reZone.MatchString(z) {
				ps.add(fmt.Sprintf("%s.zones[%d]", key, i), "%q is not a zone pattern; want example.com or *.example.com", z)
			}
		}
	}

	creds := c.ResolvedCredentials()
	for _, name := range slices.Sorted(maps.Keys(cf.Tunnels)) {
		key := "cloudflare.tunnels." + name
		if !reName.MatchString(name) {
			ps.add(key, "%q is not a tunnel name; want %s", name, allowedNames)
		}
		t := cf.Tunnels[name]
		switch {
		case t.TunnelID == "":
			ps.add(key+".tunnel_id", "tunnel %s has no tunnel_id", name)
		case !reUUID.MatchString(t.TunnelID):
			ps.add(key+".tunnel_id", "%q is not a tunnel id; want a UUID such as 6ff42ae2-765d-4adf-8112-31c55c1551ef", t.TunnelID)
		}
		switch {
		case t.AccountID == "" && cf.AccountID == "":
			ps.add(key+".account_id", "tunnel %s has no account_id and cloudflare.account_id is empty; set one of them", name)
		case t.AccountID != "" && !reAccountID.MatchString(t.AccountID):
			ps.add(key+".account_id", "%q is not an account id", t.AccountID)
		}
	}
	tunnels := c.ResolvedTunnels()
	for _, name := range slices.Sorted(maps.Keys(tunnels)) {
		cred := tunnels[name].Credential
		if _, ok := creds[cred]; ok {
			continue
		}
		key := "cloudflare.tunnels." + name + ".credential"
		if _, explicit := cf.Tunnels[name]; !explicit {
			key = "cloudflare.tunnel_id"
		}
		if cred == DefaultCredentialName {
			ps.add(key, "tunnel %s has no credential: set cloudflare.api_token (the credential named default) or name one of cloudflare.credentials (%s) in cloudflare.tunnels.%s.credential", name, list(creds), name)
		} else {
			ps.add(key, "tunnel %s uses credential %q, which is not configured; configured: %s", name, cred, list(creds))
		}
	}
	if len(tunnels) > 0 {
		if _, ok := tunnels[c.DefaultTunnel]; !ok {
			ps.add("default_tunnel", "%q is not a configured tunnel; configured: %s", c.DefaultTunnel, list(tunnels))
		}
	}
	// Access's credential is resolved here, at start-up, so main never runs
	// an Access actor without one (CredentialRules). Without any credential
	// the cloudflare.api_token problem above says it all.
	if _, key, err := c.resolveAccess(c.credentialRules()); err != nil && key != "" && len(creds) > 0 {
		ps.add(key, "%s", err.Error())
	}
}

func (l *loader) validateSync(c *Config) {
	ps := &l.problems
	s := c.Sync
	notNegative(ps, "sync.remove_delay", s.RemoveDelay)
	positive(ps, "sync.interval", s.Interval, "it is the period of the full reconcile with Cloudflare")
	if !slices.Contains([]SyncPolicy{PolicySync, PolicyUpsertOnly, PolicyCreateOnly}, s.Policy) {
		ps.add("sync.policy", "%q is not a policy; want sync, upsert-only or create-only", s.Policy)
	}
	positive(ps, "sync.settle_timeout", s.SettleTimeout, "zero would allow deletes before the known agents have reported")
	positive(ps, "sync.public_ip_interval", s.PublicIPInterval, "it is the period of the public IP check")
	for i, src := range s.PublicIPSources {
		if u, err := url.Parse(src); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add("sync.public_ip_sources", "entry %d, %q, is not an http(s) URL", i+1, src)
		}
	}
}

func (l *loader) validateMainServices(c *Config) {
	ps := &l.problems
	if c.DataDir == "" && c.DB.Path == "" {
		ps.add("data_dir", "main needs a directory for its state, e.g. %s; set data_dir (or db.path to place only the database)", DefaultDataDir)
	}
	if c.API.Enabled {
		listenAddr(ps, "api.address", c.API.Address)
		// The API token faces anyone who can reach the port, so it gets the
		// same floor as an agent's token. Unset is fine: the API is then
		// read-only.
		if c.API.Token.IsSet() && len(c.API.Token.Reveal()) < MinTokenLength {
			ps.add("api.token", "the API token is shorter than %d characters; use at least %d random characters (e.g. openssl rand -hex 32)", MinTokenLength, MinTokenLength)
		}
	}
}

func (l *loader) validateAgents(c *Config) {
	ps := &l.problems
	a := c.Agent
	if a.Enabled {
		listenAddr(ps, "agent.listen", a.Listen)
		if len(a.Agents) == 0 {
			ps.add("agent.agents", "agent.enabled is true but no agent is configured, so no agent could log in; add entries to agent.agents (or LABELGATE_AGENT_AGENTS)")
		}
	}
	l.certPair("agent.tls.cert", a.TLS.Cert, "agent.tls.key", a.TLS.Key)
	l.readable("agent.tls.client_ca", a.TLS.ClientCA)
	positive(ps, "agent.stale_ttl", a.StaleTTL, "zero would drop a disconnected agent's hostnames at once")
	positive(ps, "agent.heartbeat_interval", a.HeartbeatInterval, "")
	if a.MaxFrameBytes < minFrameBytes {
		ps.add("agent.max_frame_bytes", "%d is too small; want at least %d (default 8388608)", a.MaxFrameBytes, minFrameBytes)
	}
	if a.MaxPendingHandshakes < 1 {
		ps.add("agent.max_pending_handshakes", "%d is not a cap; want at least 1 (default 256)", a.MaxPendingHandshakes)
	}
	if a.MaxPendingHandshakesPerAddress < 1 {
		ps.add("agent.max_pending_handshakes_per_address", "%d is not a cap; want at least 1 (default 32)", a.MaxPendingHandshakesPerAddress)
	}

	tunnels := c.ResolvedTunnels()
	byToken := map[Secret]string{}
	var dialers []string
	for _, name := range slices.Sorted(maps.Keys(a.Agents)) {
		key := "agent.agents." + name
		e := a.Agents[name]
		if !reName.MatchString(name) {
			ps.add(key, "%q is not an agent name; want %s", name, allowedNames)
		}
		switch {
		case !e.Token.IsSet():
			if e.TokenFile == "" {
				ps.add(key+".token", "agent %s has no token; set token or token_file", name)
			}
		case len(e.Token.Reveal()) < MinTokenLength:
			ps.add(key+".token", "the token of agent %s is shorter than %d characters; use at least %d random characters (e.g. openssl rand -hex 32)", name, MinTokenLength, MinTokenLength)
		default:
			if other, dup := byToken[e.Token]; dup {
				ps.add(key+".token", "agents %s and %s have the same token; main identifies an agent by its token, so give each agent its own", other, name)
			} else {
				byToken[e.Token] = name
			}
		}
		if e.DefaultTunnel != "" {
			if _, ok := tunnels[e.DefaultTunnel]; !ok {
				ps.add(key+".default_tunnel", "%q is not a configured tunnel; configured: %s", e.DefaultTunnel, list(tunnels))
			}
		}
		if e.Inbound() {
			if msg := wsURLProblem(e.ConnectTo); msg != "" {
				ps.add(key+".connect_to", "%s", msg)
			} else if (a.RequireTLS || e.RequireTLS) && !strings.HasPrefix(strings.ToLower(e.ConnectTo), "wss://") {
				ps.add(key+".connect_to", "%q is not wss:// but %s requires TLS; use wss:// (or drop require_tls)", e.ConnectTo, requireTLSKey(a.RequireTLS, key))
			}
			if e.TLSInsecure && e.TLSCA != "" {
				ps.add(key+".tls_insecure", "tls_insecure turns certificate verification off, so tls_ca would be ignored; set only one of them")
			}
			l.readable(key+".tls_ca", e.TLSCA)
		} else {
			if e.TLSCA != "" || e.TLSInsecure {
				ps.add(key+".connect_to", "tls_ca and tls_insecure are only used when main dials the agent; set connect_to or remove them")
			}
			dialers = append(dialers, name)
		}
		allowedProblems(ps, key, e, tunnels)
	}
	if len(dialers) > 0 && !a.Enabled {
		ps.add("agent.enabled", "agents %s have no connect_to, so they dial main, but main's agent listener is off; set agent.enabled to true (LABELGATE_AGENT_ENABLED=true) or give them a connect_to", strings.Join(dialers, ", "))
	}
}

// requireTLSKey names the setting that asks for TLS: main's or the agent's.
func requireTLSKey(global bool, key string) string {
	if global {
		return "agent.require_tls"
	}
	return key + ".require_tls"
}

// allowedProblems checks an agent entry's allowed_hostnames and
// allowed_tunnels; key is the entry's key (agent.agents.<name>).
func allowedProblems(ps *problems, key string, e AgentEntry, tunnels map[string]Tunnel) {
	for i, h := range e.AllowedHostnames {
		if !reHostnamePattern.MatchString(h) {
			ps.add(fmt.Sprintf("%s.allowed_hostnames[%d]", key, i), "%q is not a hostname pattern; want an exact name such as app.example.com, or *.lab.example.com for every name below lab.example.com", h)
		}
	}
	for i, t := range e.AllowedTunnels {
		if _, ok := tunnels[t]; !ok {
			ps.add(fmt.Sprintf("%s.allowed_tunnels[%d]", key, i), "%q is not a configured tunnel; configured: %s", t, list(tunnels))
		}
	}
	for i, z := range e.AllowedZones {
		if strings.HasPrefix(z, "*") || !reHostnamePattern.MatchString(z) {
			ps.add(fmt.Sprintf("%s.allowed_zones[%d]", key, i), "%q is not a zone name; want a domain such as example.com (every hostname in it is allowed)", z)
		}
	}
}

func (l *loader) validateConnect(c *Config) {
	ps := &l.problems
	cn := c.Connect
	switch cn.Mode {
	case ConnectOutbound:
		if cn.Endpoint == "" {
			ps.add("connect.endpoint", "an outbound agent needs main's address, e.g. wss://main-host.example.com:8081")
		}
	case ConnectInbound:
		listenAddr(ps, "connect.listen", cn.Listen)
		// In inbound mode main dials the agent: there is no certificate of
		// main's to verify, and main presents no client certificate.
		if cn.TLS.CA != "" {
			ps.add("connect.tls.ca", "in inbound mode main dials this agent, so there is no main certificate to verify; connect.tls.ca is for outbound agents (to verify main's certificate on the agent side of an inbound connection, pin the agent's certificate on main with agent.agents.<name>.tls_ca)")
		}
		if cn.TLS.Insecure {
			ps.add("connect.tls.insecure", "in inbound mode main dials this agent; connect.tls.insecure is for outbound agents (main's side is agent.agents.<name>.tls_insecure)")
		}
		if cn.Endpoint != "" {
			ps.add("connect.endpoint", "in inbound mode main dials this agent (at agent.agents.<name>.connect_to on main); connect.endpoint is for outbound agents")
		}
	default:
		ps.add("connect.mode", "%q is not a connection mode; want outbound (the agent dials main) or inbound (main dials the agent)", cn.Mode)
	}
	if cn.Endpoint != "" {
		if msg := wsURLProblem(cn.Endpoint); msg != "" {
			ps.add("connect.endpoint", "%s", msg)
		} else if cn.RequireTLS && !strings.HasPrefix(strings.ToLower(cn.Endpoint), "wss://") {
			ps.add("connect.endpoint", "%q is not wss:// but connect.require_tls is set; use wss:// (or drop connect.require_tls)", cn.Endpoint)
		}
	}
	switch {
	case !cn.Token.IsSet():
		if cn.TokenFile == "" {
			ps.add("connect.token", "an agent needs the token main has for it in agent.agents; set connect.token or connect.token_file")
		}
	case len(cn.Token.Reveal()) < MinTokenLength:
		ps.add("connect.token", "the token is shorter than %d characters; use at least %d random characters (e.g. openssl rand -hex 32)", MinTokenLength, MinTokenLength)
	}
	if cn.TLS.Insecure && cn.TLS.CA != "" {
		ps.add("connect.tls.insecure", "insecure turns certificate verification off, so connect.tls.ca would be ignored; set only one of them")
	}
	l.certPair("connect.tls.cert", cn.TLS.Cert, "connect.tls.key", cn.TLS.Key)
	l.readable("connect.tls.ca", cn.TLS.CA)
	positive(ps, "connect.heartbeat_interval", cn.HeartbeatInterval, "")
	listenAddr(ps, "connect.health_listen", cn.HealthListen)
}

// certPair checks a certificate and its key: both or neither, both readable.
func (l *loader) certPair(certKey, cert, keyKey, key string) {
	switch {
	case cert != "" && key == "":
		l.problems.add(keyKey, "%s is set but %s is not; a certificate needs its private key", certKey, keyKey)
	case cert == "" && key != "":
		l.problems.add(certKey, "%s is set but %s is not; a private key needs its certificate", keyKey, certKey)
	}
	l.readable(certKey, cert)
	l.readable(keyKey, key)
}

// readable checks that a configured file path can be read now, so that a
// typo is reported at start-up rather than at the first connection.
func (l *loader) readable(key, p string) {
	if p == "" {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		l.problems.add(key, "cannot read the file: %v", err)
		return
	}
	defer func() { _ = f.Close() }() // opened only to be read
	if st, err := f.Stat(); err == nil && st.IsDir() {
		l.problems.add(key, "%s is a directory; want a file", p)
		return
	}
	if _, err := f.Read(make([]byte, 1)); err != nil {
		l.problems.add(key, "cannot read the file %s: %v", p, err)
	}
}

func positive(ps *problems, key string, d time.Duration, why string) {
	if d > 0 {
		return
	}
	msg := fmt.Sprintf("%s is not allowed; want a duration greater than zero", formatDuration(d))
	if why != "" {
		msg += " (" + why + ")"
	}
	ps.add(key, "%s", msg)
}

func notNegative(ps *problems, key string, d time.Duration) {
	if d < 0 {
		ps.add(key, "%s is negative; want zero or more", formatDuration(d))
	}
}

func listenAddr(ps *problems, key, addr string) {
	const want = "want host:port or :port, e.g. :8081 or 0.0.0.0:8081"
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(key, "%q is not a listen address; %s", addr, want)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		ps.add(key, "%q has no valid port; %s", addr, want)
	}
}

func wsURLProblem(raw string) string {
	const want = "want ws://host:port or wss://host:port (a path is optional)"
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a URL; " + want
	}
	switch {
	case u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Sprintf("%q does not start with ws:// or wss://; %s", raw, want)
	case u.Hostname() == "":
		return fmt.Sprintf("%q has no host; %s", raw, want)
	case u.User != nil:
		return "must not contain a user or password; the token belongs in its own setting"
	}
	return ""
}

func list[T any](m map[string]T) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// validateAccess checks the pinned templates with the label parser, so a
// pinned template means exactly what the same labels would.
func (l *loader) validateAccess(c *Config) {
	_, errs := c.PinnedTemplates()
	for _, e := range errs {
		l.problems.add(e.key, "%s", e.msg)
	}
}
