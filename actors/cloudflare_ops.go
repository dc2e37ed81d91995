package actors

import (
	"context"
	"fmt"

	"github.com/labelgate/labelgate/cfapi"
)

// cfOp is one Cloudflare operation, as a value. The cloudflare actor is the
// only thing that runs them.
type cfOp interface {
	// run performs the call.
	run(ctx context.Context, api cfapi.API) (any, error)
	// idempotent reports whether repeating the call after an unknown outcome
	// (a timeout, a 5xx) is harmless. Creates are not: after a failed create
	// the caller lists again and adopts what exists, so no duplicate appears.
	idempotent() bool
	// endpoint names the call for metrics and logs.
	endpoint() string
}

// Priorities: lower runs first. Tunnel changes are small and user-visible,
// so one big zone never makes a tunnel update wait behind it.
const (
	prioTunnel = iota
	prioAccess
	prioDNS
	prioBackground
	numPriorities
)

type opVerifyToken struct{}

func (opVerifyToken) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.VerifyToken(ctx)
}
func (opVerifyToken) idempotent() bool { return true }
func (opVerifyToken) endpoint() string { return "verify_token" }

type opListZones struct{}

func (opListZones) run(ctx context.Context, api cfapi.API) (any, error) { return api.ListZones(ctx) }
func (opListZones) idempotent() bool                                    { return true }
func (opListZones) endpoint() string                                    { return "list_zones" }

type opListRecords struct{ ZoneID string }

func (o opListRecords) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.ListRecords(ctx, o.ZoneID, cfapi.RecordFilter{})
}
func (opListRecords) idempotent() bool { return true }
func (opListRecords) endpoint() string { return "list_dns_records" }

type opBatch struct {
	ZoneID string
	Batch  cfapi.Batch
}

func (o opBatch) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.BatchRecords(ctx, o.ZoneID, o.Batch)
}

// A batch is all-or-nothing, but with posts in it a lost answer leaves us
// not knowing whether records were created; the zone actor lists again.
func (o opBatch) idempotent() bool { return len(o.Batch.Posts) == 0 }
func (opBatch) endpoint() string   { return "batch_dns_records" }

type opGetTunnelConfig struct{ TunnelID string }

func (o opGetTunnelConfig) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.GetTunnelConfig(ctx, o.TunnelID)
}
func (opGetTunnelConfig) idempotent() bool { return true }
func (opGetTunnelConfig) endpoint() string { return "get_tunnel_config" }

type opPutTunnelConfig struct {
	TunnelID string
	Config   cfapi.TunnelConfig
}

func (o opPutTunnelConfig) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.PutTunnelConfig(ctx, o.TunnelID, o.Config)
}

// A whole-document replace: repeating it yields the same document.
func (opPutTunnelConfig) idempotent() bool { return true }
func (opPutTunnelConfig) endpoint() string { return "put_tunnel_config" }

// opGetTunnel reads the tunnel itself: its status (the connector health
// read, at background priority).
type opGetTunnel struct{ TunnelID string }

func (o opGetTunnel) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.GetTunnel(ctx, o.TunnelID)
}
func (opGetTunnel) idempotent() bool { return true }
func (opGetTunnel) endpoint() string { return "get_tunnel" }

// opListTunnelConnections reads the tunnel's connectors and their
// connections (the tunnel GET's own list is deprecated).
type opListTunnelConnections struct{ TunnelID string }

func (o opListTunnelConnections) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.ListTunnelConnections(ctx, o.TunnelID)
}
func (opListTunnelConnections) idempotent() bool { return true }
func (opListTunnelConnections) endpoint() string { return "list_tunnel_connections" }

type opListApps struct{}

func (opListApps) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.ListAccessApps(ctx)
}
func (opListApps) idempotent() bool { return true }
func (opListApps) endpoint() string { return "list_access_apps" }

type opListPolicies struct{}

func (opListPolicies) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.ListAccessPolicies(ctx)
}
func (opListPolicies) idempotent() bool { return true }
func (opListPolicies) endpoint() string { return "list_access_policies" }

type opCreatePolicy struct{ Policy cfapi.AccessPolicy }

func (o opCreatePolicy) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.CreateAccessPolicy(ctx, o.Policy)
}
func (opCreatePolicy) idempotent() bool { return false }
func (opCreatePolicy) endpoint() string { return "create_access_policy" }

type opUpdatePolicy struct{ Policy cfapi.AccessPolicy }

func (o opUpdatePolicy) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.UpdateAccessPolicy(ctx, o.Policy)
}
func (opUpdatePolicy) idempotent() bool { return true }
func (opUpdatePolicy) endpoint() string { return "update_access_policy" }

type opDeletePolicy struct{ ID string }

func (o opDeletePolicy) run(ctx context.Context, api cfapi.API) (any, error) {
	return nil, api.DeleteAccessPolicy(ctx, o.ID)
}
func (opDeletePolicy) idempotent() bool { return true }
func (opDeletePolicy) endpoint() string { return "delete_access_policy" }

type opCreateApp struct{ App cfapi.AccessApp }

func (o opCreateApp) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.CreateAccessApp(ctx, o.App)
}
func (opCreateApp) idempotent() bool { return false }
func (opCreateApp) endpoint() string { return "create_access_app" }

type opUpdateApp struct{ App cfapi.AccessApp }

func (o opUpdateApp) run(ctx context.Context, api cfapi.API) (any, error) {
	return api.UpdateAccessApp(ctx, o.App)
}
func (opUpdateApp) idempotent() bool { return true }
func (opUpdateApp) endpoint() string { return "update_access_app" }

type opDeleteApp struct{ ID string }

func (o opDeleteApp) run(ctx context.Context, api cfapi.API) (any, error) {
	return nil, api.DeleteAccessApp(ctx, o.ID)
}
func (opDeleteApp) idempotent() bool { return true }
func (opDeleteApp) endpoint() string { return "delete_access_app" }

// cfRequest asks the cloudflare actor to run an operation; it answers the
// sender with a cfResponse carrying the same ID.
type cfRequest struct {
	ID       uint64
	Priority int
	// Account selects the account for tunnel and Access calls.
	Account string
	Op      cfOp
}

// cfResponse is the outcome of a cfRequest.
type cfResponse struct {
	ID     uint64
	Result any
	Err    error
}

func (r cfRequest) String() string { return fmt.Sprintf("%s#%d", r.Op.endpoint(), r.ID) }
