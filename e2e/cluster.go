package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// Cluster is Labelgate deployed as users run it, every part a container of
// the image built from the working tree:
//
//	network cf:    cfsim (Cloudflare)  ── main
//	network lan1:  main ── agent1 (outbound: agent1 dials wss://main:8081)
//	network lan2:  main ── agent2 (inbound:  main dials wss://agent2:8082)
//
// All of them share this machine's Docker engine, so each labelgate
// instance watches only "its host's" workloads through
// LABELGATE_DOCKER_FILTER_LABEL=lge2e.host=<run>-<host>. Main's data
// directory is a named volume, so a killed main restarts with its state.
type Cluster struct {
	t   *testing.T
	env *Env

	Image string
	Grace time.Duration

	CF, LAN1, LAN2 string // network names
	DataVolume     string

	Sim      *SimClient
	TunnelID string
	// CNAMETarget is the content of every tunnel hostname's CNAME.
	CNAMETarget string

	CfsimID, MainID, Agent1ID, Agent2ID string

	// ExtraAgents are more entries of main's agent.agents, by name, each an
	// inline YAML value (`{token: …, allowed_hostnames: […]}`). Set them
	// before StartMain.
	ExtraAgents map[string]string
	// PublishAgentPort publishes main's agent port (8081) on loopback too,
	// for a test that plays a network peer of main (MainAgentAddr). Set it
	// before StartMain.
	PublishAgentPort bool

	// APIToken is main's LABELGATE_API_TOKEN, sent on every API call.
	APIToken string
	mainBase string
	http     *http.Client
}

// Fixed credentials of the simulated account; each cluster has its own cfsim.
const (
	simToken    = "lge2e-cloudflare-token-0123456789"
	simAccount  = "0123456789abcdef0123456789abcdef"
	simTunnelID = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
	agent1Token = "lge2e-agent-one-token-0123456789"
	agent2Token = "lge2e-agent-two-token-0123456789"
	apiToken    = "lge2e-api-token-0123456789abcdef"
)

// Agent names on main; their sources in the API are "agent:<name>".
const (
	Agent1 = "a1"
	Agent2 = "a2"
)

// Host names for Workload and the filter label.
const (
	HostMain   = "main"
	HostAgent1 = "agent1"
	HostAgent2 = "agent2"
)

// HostLabel is the label that assigns a workload to a labelgate instance.
const HostLabel = "lge2e.host"

// ForeignRule is the ingress rule "someone else" configured by hand, and
// ForeignConfig the whole document, with a global originRequest that must
// survive verbatim too.
const (
	ForeignRule   = `{"hostname":"manual.example.com","service":"http://manual:80","originRequest":{"connectTimeout":15}}`
	ForeignConfig = `{"ingress":[` + ForeignRule + `,{"service":"http_status:404"}],"originRequest":{"noTLSVerify":false}}`
)

// foreignSeed is applied through POST /__cfsim/seed: a zone with two foreign
// records, a foreign reusable policy and a foreign Access app.
const foreignSeed = `
zones:
  - name: example.com
    records:
      - {name: legacy.example.com, type: A, content: 198.51.100.7, proxied: false, comment: managed by hand}
      - {name: example.com, type: MX, content: mx.example.net, priority: 10}
access:
  policies: [{name: staff, decision: allow, include: [{email_domain: {domain: example.com}}]}]
  apps: [{name: wiki, domain: wiki.example.com, type: self_hosted, policies: [staff]}]
`

// NewCluster builds the image, creates the networks and the data volume,
// starts cfsim and seeds it with someone else's objects. Main and the
// agents are started separately, so a scenario can start workloads first
// (a cold start).
func NewCluster(t *testing.T, env *Env, grace time.Duration) *Cluster {
	t.Helper()
	c := &Cluster{t: t, env: env, Image: env.Image(), Grace: grace, TunnelID: simTunnelID,
		CNAMETarget: simTunnelID + ".cfargotunnel.com", APIToken: apiToken, http: &http.Client{Timeout: 10 * time.Second}}
	c.CF, c.LAN1, c.LAN2 = env.Network("cf"), env.Network("lan1"), env.Network("lan2")
	c.DataVolume = env.Volume("main-data")
	c.CfsimID = env.Start(Container{Name: "cfsim", Image: c.Image, Networks: []string{c.CF}, Ports: []string{"8787/tcp"},
		Cmd: []string{"cfsim", "--listen", ":8787", "--tunnel", "home=" + simTunnelID, "--token", simToken, "--account", simAccount}})
	env.LogsOnFailure("cfsim", c.CfsimID)
	c.Sim = NewSimClient(t, "http://127.0.0.1:"+env.HostPort(c.CfsimID, "8787/tcp"), simToken, simAccount)
	c.Sim.Ready(20 * time.Second)
	c.Sim.Seed(foreignSeed)
	c.Sim.PutTunnelConfig(simTunnelID, ForeignConfig)
	c.Sim.ResetAudit() // the hand-made rule above is not Labelgate's call
	return c
}

// HostValue is the filter label value of a host.
func (c *Cluster) HostValue(host string) string { return c.env.Run + "-" + host }

func (c *Cluster) filterEnv(host string) string {
	return "LABELGATE_DOCKER_FILTER_LABEL=" + HostLabel + "=" + c.HostValue(host)
}

// MainEnv is main's environment.
func (c *Cluster) MainEnv() []string {
	return []string{
		"LABELGATE_LOG_LEVEL=info",
		"LABELGATE_CLOUDFLARE_API_TOKEN=" + simToken,
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID=" + simAccount,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID=" + simTunnelID,
		"LABELGATE_CLOUDFLARE_API_URL=http://cfsim:8787",
		c.filterEnv(HostMain),
		"LABELGATE_DOCKER_DEBOUNCE=200ms",
		"LABELGATE_SYNC_REMOVE_DELAY=" + c.Grace.String(),
		"LABELGATE_SYNC_SETTLE_TIMEOUT=20s",
		// No internet here: the public IP lookup must fail fast and locally.
		"LABELGATE_SYNC_PUBLIC_IP_SOURCES=http://127.0.0.1:1/",
		"LABELGATE_API_TOKEN=" + c.APIToken,
		"LABELGATE_AGENT_ENABLED=true",
		"LABELGATE_AGENT_LISTEN=:8081",
		"LABELGATE_AGENT_HEARTBEAT_INTERVAL=1s",
		"LABELGATE_AGENT_AGENTS={" + strings.Join(c.agentEntries(), ", ") + "}",
	}
}

func (c *Cluster) agentEntries() []string {
	out := []string{
		fmt.Sprintf("%s: {token: %s, default_tunnel: default}", Agent1, agent1Token),
		fmt.Sprintf("%s: {token: %s, connect_to: \"wss://agent2:8082\"}", Agent2, agent2Token),
	}
	for _, name := range slices.Sorted(maps.Keys(c.ExtraAgents)) {
		out = append(out, name+": "+c.ExtraAgents[name])
	}
	return out
}

// StartMain starts main: the socket mounted read-only with its group added
// (the image runs as 65532), the data volume at /app/config, on all three
// networks as "main", its API published on loopback.
func (c *Cluster) StartMain() {
	c.t.Helper()
	ports := []string{"8080/tcp"}
	if c.PublishAgentPort {
		ports = append(ports, "8081/tcp")
	}
	c.MainID = c.env.Start(Container{Name: "main", Image: c.Image, Env: c.MainEnv(),
		Networks: []string{c.CF, c.LAN1, c.LAN2}, Ports: ports, GroupAdd: []string{c.env.SocketGID()},
		Binds: []string{SocketPath + ":" + SocketPath + ":ro", c.DataVolume + ":/app/config"}})
	c.env.LogsOnFailure("main", c.MainID)
	c.mainBase = ""
}

// StartAgents starts agent1 (outbound, wss:// without any certificate, as
// documented) and agent2 (inbound).
func (c *Cluster) StartAgents() {
	c.t.Helper()
	c.Agent1ID = c.StartOutboundAgent(HostAgent1, c.LAN1, agent1Token)
	c.Agent2ID = c.env.Start(c.agent(HostAgent2, c.LAN2, "LABELGATE_CONNECT_MODE=inbound",
		"LABELGATE_CONNECT_LISTEN=:8082", "LABELGATE_CONNECT_TOKEN="+agent2Token))
	c.env.LogsOnFailure(HostAgent2, c.Agent2ID)
}

// StartOutboundAgent starts an agent container named host on network net
// that dials wss://main:8081 with token and watches the workloads of host
// (Workload). It returns the container's id.
func (c *Cluster) StartOutboundAgent(host, net, token string) string {
	c.t.Helper()
	id := c.env.Start(c.agent(host, net, "LABELGATE_CONNECT_MODE=outbound",
		"LABELGATE_CONNECT_ENDPOINT=wss://main:8081", "LABELGATE_CONNECT_TOKEN="+token))
	c.env.LogsOnFailure(host, id)
	return id
}

func (c *Cluster) agent(host, net string, env ...string) Container {
	return Container{Name: host, Image: c.Image, Networks: []string{net}, GroupAdd: []string{c.env.SocketGID()},
		Binds: []string{SocketPath + ":" + SocketPath + ":ro"},
		Env: append([]string{"LABELGATE_MODE=agent", "LABELGATE_LOG_LEVEL=info", c.filterEnv(host),
			"LABELGATE_DOCKER_DEBOUNCE=200ms", "LABELGATE_CONNECT_HEARTBEAT_INTERVAL=1s"}, env...)}
}

// Workload is a labelled `labelgate hello` container on a host.
func (c *Cluster) Workload(host, name string, labels map[string]string) Container {
	l := map[string]string{HostLabel: c.HostValue(host)}
	for k, v := range labels {
		l[k] = v
	}
	return Container{Name: name, Image: c.Image, Cmd: []string{"hello"}, Labels: l}
}

// TunnelLabels are the labels of one tunnel route to http://<name>:8080.
func TunnelLabels(name, host string, cleanup bool) map[string]string {
	return map[string]string{
		"labelgate.tunnel.web.hostname": host,
		"labelgate.tunnel.web.service":  Service(name),
		"labelgate.tunnel.web.cleanup":  fmt.Sprint(cleanup),
	}
}

// Service is the origin of a workload's route.
func Service(name string) string { return "http://" + name + ":8080" }

// MainURL is main's API base on loopback. The published port changes when
// main is restarted, so it is looked up again after StartMain/RestartMain.
func (c *Cluster) MainURL() string {
	if c.mainBase == "" {
		c.mainBase = "http://127.0.0.1:" + c.env.HostPort(c.MainID, "8080/tcp")
	}
	return c.mainBase
}

// MainAgentAddr is main's agent port on loopback (PublishAgentPort),
// host:port. Docker's proxy forwards each connection, so main sees them all
// from one address: the gateway of main's first network.
func (c *Cluster) MainAgentAddr() string {
	c.t.Helper()
	return "127.0.0.1:" + c.env.HostPort(c.MainID, "8081/tcp")
}

// MainStartedAt is when main's process last started, as Docker reports it.
func (c *Cluster) MainStartedAt() time.Time {
	c.t.Helper()
	at, err := time.Parse(time.RFC3339Nano, c.env.Inspect(c.MainID).State.StartedAt)
	if err != nil {
		c.t.Fatalf("main's start time: %v", err)
	}
	return at
}

// RestartMain starts a stopped or killed main again.
func (c *Cluster) RestartMain() {
	c.t.Helper()
	c.env.StartAgain(c.MainID)
	c.mainBase = ""
}

// API GETs one of main's endpoints and decodes the JSON answer.
func (c *Cluster) API(path string, out any) error {
	return c.call(http.MethodGet, path, out, http.StatusOK)
}

// Post runs one of main's actions (POST with the API token) and decodes
// the JSON answer.
func (c *Cluster) Post(path string, out any) error {
	return c.call(http.MethodPost, path, out, http.StatusOK)
}

// call sends a request to main's API and decodes the answer when its status
// is one of ok.
func (c *Cluster) call(method, path string, out any, ok ...int) error {
	body, status, err := c.do(method, path)
	if err != nil {
		return err
	}
	if !slices.Contains(ok, status) {
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, status, body)
	}
	return json.Unmarshal(body, out)
}

// do sends a request to main with the API token and returns the body and
// status of the answer.
func (c *Cluster) do(method, path string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.MainURL()+path, nil)
	if err != nil {
		return nil, 0, err
	}
	if c.APIToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIToken)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return body, res.StatusCode, err
}

// Text GETs a page of main (/metrics) with the API token and returns its
// body.
func (c *Cluster) Text(path string) (string, error) {
	body, status, err := c.do(http.MethodGet, path)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d", path, status)
	}
	return string(body), err
}

// Page logs in to main's dashboard with the API token (a session cookie,
// as a browser gets) and returns the body of one of its pages.
func (c *Cluster) Page(path string) (string, error) {
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	res, err := cl.PostForm(c.MainURL()+"/login", url.Values{"token": {c.APIToken}, "next": {path}})
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err == nil && (res.StatusCode != http.StatusOK || res.Request.URL.Path != path) {
		err = fmt.Errorf("logging in for %s: %s at %s", path, res.Status, res.Request.URL.Path)
	}
	return string(body), err
}

// Readiness is main's GET /readyz: "ready" or "not ready", and each check.
type Readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

// Readyz asks main whether it is ready (a 503 is an answer too).
func (c *Cluster) Readyz() (Readiness, error) {
	var r Readiness
	err := c.call(http.MethodGet, "/readyz", &r, http.StatusOK, http.StatusServiceUnavailable)
	return r, err
}

// AgentState is what main's API says about one agent.
type AgentState struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
	State     string `json:"state"`
	TLSMode   string `json:"tls_mode"`
	Mode      string `json:"mode"`
	// Remote is the address main sees the agent's connection from.
	Remote string `json:"remote"`
}

// Agent asks main about an agent; the zero value when main does not answer.
func (c *Cluster) Agent(name string) AgentState {
	var a AgentState
	if err := c.API("/api/v1/agents/"+name, &a); err != nil {
		return AgentState{}
	}
	return a
}

// AgentsConnected reports whether main has both agents connected.
func (c *Cluster) AgentsConnected() bool {
	return c.Agent(Agent1).Connected && c.Agent(Agent2).Connected
}

// Claimant is a container claiming a hostname, as main's API shows it.
type Claimant struct {
	Source    string `json:"source"`
	Container string `json:"container"`
}

// Hostname is one entry of GET /api/v1/hostnames.
type Hostname struct {
	Hostname string     `json:"hostname"`
	State    string     `json:"state"`
	Winner   Claimant   `json:"winner"`
	Queued   []Claimant `json:"queued"`
}

// Hostnames lists main's hostnames, optionally in one state.
func (c *Cluster) Hostnames(state string) ([]Hostname, error) {
	var res struct {
		Hostnames []Hostname `json:"hostnames"`
	}
	path := "/api/v1/hostnames"
	if state != "" {
		path += "?state=" + state
	}
	err := c.API(path, &res)
	return res.Hostnames, err
}

// LabelError is one entry of GET /api/v1/label-errors.
type LabelError struct {
	Source    string `json:"source"`
	Container string `json:"container"`
	Key       string `json:"key"`
	Message   string `json:"message"`
}

// Conflict is one entry of GET /api/v1/conflicts.
type Conflict struct {
	Hostname string     `json:"hostname"`
	Kind     string     `json:"kind"`
	Winner   Claimant   `json:"winner"`
	Queued   []Claimant `json:"queued"`
	Message  string     `json:"message"`
}

// Want is a tunnel hostname that must be published with its proxied CNAME.
type Want struct{ Host, Service string }

// Missing lists what of wants sn does not show: a rule with the service, and
// exactly one CNAME to the tunnel.
func (c *Cluster) Missing(sn Snapshot, wants []Want) []string {
	var out []string
	for _, w := range wants {
		r, ok := sn.Rule(w.Host)
		if !ok || r.Service != w.Service {
			out = append(out, "rule "+w.Host)
			continue
		}
		if id, ok := sn.Record("CNAME", w.Host); !ok || sn.Contents[id] != c.CNAMETarget {
			out = append(out, "CNAME "+w.Host)
		}
	}
	return out
}

// Snapshot reads the simulator's current state.
func (c *Cluster) Snapshot() Snapshot {
	c.t.Helper()
	sn, err := SnapshotOf(c.Sim.MustState(), c.TunnelID)
	if err != nil {
		c.t.Fatal(err)
	}
	return sn
}

// WaitConverged waits until every want is published and returns the state
// and how long it took.
func (c *Cluster) WaitConverged(within time.Duration, what string, wants []Want) (Snapshot, time.Duration) {
	c.t.Helper()
	start := time.Now()
	var sn Snapshot
	var missing []string
	deadline := start.Add(within)
	for {
		sn = c.Snapshot()
		if missing = c.Missing(sn, wants); len(missing) == 0 {
			return sn, time.Since(start)
		}
		if time.Now().After(deadline) {
			if len(missing) > 10 {
				missing = append(missing[:10], fmt.Sprintf("… %d more", len(missing)-10))
			}
			c.t.Fatalf("%s: not converged after %v; missing %s", what, within, strings.Join(missing, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Writes returns the successful non-GET calls in audit after seq mark.
func Writes(audit []cfsim.AuditEntry, mark int) []cfsim.AuditEntry {
	var out []cfsim.AuditEntry
	for _, e := range audit {
		if e.Seq > mark && e.IsWrite() && e.Status > 0 && e.Status < 300 {
			out = append(out, e)
		}
	}
	return out
}

// Mark is the sequence number of the latest audit entry.
func Mark(audit []cfsim.AuditEntry) int {
	if len(audit) == 0 {
		return 0
	}
	return audit[len(audit)-1].Seq
}

// Describe renders audit entries one per line for a failure message.
func Describe(es []cfsim.AuditEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  #%d %s %s %s → %d ids=%v foreign=%v fault=%s", e.Seq, e.Time.Format("15:04:05.000"), e.Method, e.Path, e.Status, e.IDs, e.Foreign, e.Fault)
	}
	return b.String()
}

// Deletes returns the audit's successful DELETE calls after mark.
func Deletes(audit []cfsim.AuditEntry, mark int) []cfsim.AuditEntry {
	return slices.DeleteFunc(Writes(audit, mark), func(e cfsim.AuditEntry) bool { return e.Method != http.MethodDelete })
}

// Calls counts the audit entries after mark, and those per fault kind.
func Calls(audit []cfsim.AuditEntry, mark int) (n int, faults map[string]int) {
	faults = map[string]int{}
	for _, e := range audit {
		if e.Seq > mark {
			n++
			if e.Fault != "" {
				faults[e.Fault]++
			}
		}
	}
	return n, faults
}

// DeletedIDs returns the object ids that successful writes after mark
// touched and that sn no longer holds: what those writes deleted (a DNS
// batch shows its deletes this way only).
func DeletedIDs(audit []cfsim.AuditEntry, mark int, sn Snapshot, tunnelID string) []string {
	var out []string
	for _, e := range Writes(audit, mark) {
		for _, id := range e.IDs {
			if _, ok := sn.Contents[id]; ok || id == tunnelID || sn.hasApp(id) || slices.Contains(out, id) {
				continue
			}
			out = append(out, id)
		}
	}
	return out
}

func (sn Snapshot) hasApp(id string) bool {
	return slices.ContainsFunc(sn.Apps, func(a cfsim.AccessApp) bool { return a.ID == id }) || sn.Policies[id]
}
