package messages

// The state words that cross actors (and reach the API) are typed: a
// string-based type marshals to JSON exactly as the plain string did, and
// the store keeps plain strings (converted where it is read and written).

// HostState is the registry's state of one hostname (HostnameState.State).
type HostState string

// Hostname states.
const (
	// HostActive: the winner's objects are published.
	HostActive HostState = "active"
	// HostFrozen: active, but the winner's agent is disconnected; its
	// objects stay as they are.
	HostFrozen HostState = "frozen"
	// HostLeaving: the winner is gone; its objects stay until Due.
	HostLeaving HostState = "leaving"
	// HostRetained: cleanup=false kept the objects after the grace.
	HostRetained HostState = "retained"
	// HostRefused: no claim could be applied.
	HostRefused HostState = "refused"
)

// SourceStatus is what a SourceStatusChanged tells the registry about a
// source (an agent).
type SourceStatus string

// Source statuses. Revoked is gone and stays so: the registry refuses the
// source's sets until it is Enabled again (a decommissioned agent),
// whatever is still in flight.
const (
	SourceConnected SourceStatus = "connected"
	SourceFrozen    SourceStatus = "frozen"  // disconnected: claims frozen
	SourceGone      SourceStatus = "gone"    // stale or decommissioned: claims leave
	SourceRevoked   SourceStatus = "revoked" // decommissioned: gone, and its sets are refused
	SourceEnabled   SourceStatus = "enabled"
)

// AgentStatus is the agent directory's state of one agent.
type AgentStatus string

// Agent states.
const (
	AgentStatusConnected      AgentStatus = "connected"
	AgentStatusDisconnected   AgentStatus = "disconnected"
	AgentStatusStale          AgentStatus = "stale"
	AgentStatusDecommissioned AgentStatus = "decommissioned"
	// AgentStatusUnknown: known from the store, not heard from since start.
	AgentStatusUnknown AgentStatus = "unknown"
)
