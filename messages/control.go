package messages

import "time"

// The control messages between actors: queries and their answers, and the
// commands the HTTP surface and the agent sessions send. Data only; a
// message that must carry an actor's address (a subscription, a session's
// PID) stays in package actors, so this package does not import the actor
// runtime.

// ResyncNow asks a planner (or the DNS actor, for every zone) for a full
// reconcile at once.
type ResyncNow struct{}

// QueryPlannerStatus asks a planner for its status; the reply is a
// PlannerStatus (from the DNS actor: []PlannerStatus, one per zone).
type QueryPlannerStatus struct{}

// QueryRegistry asks for the registry's view; the reply is RegistryReport.
type QueryRegistry struct{}

// CancelDelete asks the registry to keep a leaving hostname's objects; the
// reply is an error or nil.
type CancelDelete struct{ Hostname string }

// SourceStatusChanged tells the registry that an agent connected, was
// frozen (disconnected), went stale or was decommissioned. DefaultTunnel is
// what the agent announced.
type SourceStatusChanged struct {
	Source        string
	Status        SourceStatus
	DefaultTunnel string
}

// ResendSets asks a source actor to send its last container set again (the
// registry asks after a restart, having lost what it had).
type ResendSets struct{}

// QueryLink asks the link for its state; the reply is LinkStatus.
type QueryLink struct{}

// LinkStatus is the agent's view of its connection to main.
type LinkStatus struct {
	Connected   bool
	Since       time.Time
	LastError   string
	Mode        string // inbound or outbound
	TLSMode     string
	Acked       uint64 // the last snapshot version main acknowledged
	Sent        uint64 // the last snapshot version sent
	Docker      bool
	DockerError string
	// ListenerError says why the inbound listener cannot accept
	// connections now (empty while it can, and in outbound mode).
	ListenerError string
}

// QueryListenerHealth asks a listener actor whether it accepts connections;
// the reply is ListenerHealth.
type QueryListenerHealth struct{}

// ListenerHealth is a listener's answer: Err is nil while it accepts.
type ListenerHealth struct{ Err error }

// QueryChildren asks a supervisor for its children's PIDs by name; the reply
// is a map[string]*actor.PID.
type QueryChildren struct{}

// QueryDockerStatus asks a dockerwatch actor for its connection status;
// the reply is a dockerwatch.Status.
type QueryDockerStatus struct{}

// DecommissionAgent forgets an agent now and refuses it from then on;
// the reply is an error or nil.
type DecommissionAgent struct{ Name string }

// EnableAgent re-admits a decommissioned agent; the reply is an error or
// nil.
type EnableAgent struct{ Name string }

// QueryAgents asks for every agent's state; the reply is []AgentState.
type QueryAgents struct{}

// AgentAdmission answers AgentConnected: Refused is empty when the
// session may go on, else the reason it may not (sent to the agent).
type AgentAdmission struct{ Refused string }

// SetApplied is the registry's answer to a container set sent with
// Request: it has taken (or, if stale, ignored) the set of Source at
// Version.
type SetApplied struct {
	Source  string
	Version uint64
}

// AccessProtected is the access actor's answer to every desired state it
// receives, and its news whenever the set changes: the domains (hostname, or
// hostname/path) that have one of Labelgate's Access applications in
// Cloudflare now, sorted. The registry holds back the new routes of every
// other protected domain (DesiredRule.Held).
type AccessProtected struct {
	Domains []string
}
