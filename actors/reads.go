package actors

import (
	"context"
	"errors"
	"github.com/labelgate/labelgate/messages"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/store"
)

// This file is the read API of a running tree for code outside the actors
// (the HTTP surface, cmd/labelgate, tests): request/reply from a goroutine
// that is not an actor, never from inside one. Everything it exposes is a
// query, a Cloudflare read through the credential's budget, or one of the
// few commands an operator can give (resync, cancel a delete, decommission
// or enable an agent); no PID and no actor's internals leave the package.

// ErrNotRunning answers a request for a part of the tree that does not run
// (an agent listener when agent mode is off, say).
var ErrNotRunning = errors.New("that part of main is not running")

// askTimeout bounds a request whose context has no deadline.
const askTimeout = 30 * time.Second

// Has reports whether the child named child runs.
func (m *Main) Has(child string) bool { return m.Children[child] != nil }

// Ask sends msg to the child named child and waits for its reply, bounded
// by ctx (at most 30 s without a deadline).
func (m *Main) Ask(ctx context.Context, child string, msg any) (any, error) {
	pid := m.Children[child]
	if pid == nil {
		return nil, ErrNotRunning
	}
	timeout := askTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	return m.System.Root.RequestFuture(pid, msg, timeout).Result()
}

// isPlanner reports whether a child of main is a planner: a tunnel, the DNS
// actor (which answers for its zones) or Access.
func isPlanner(child string) bool {
	return strings.HasPrefix(child, "tunnel-") || child == ChildDNS || child == ChildAccess
}

// PlannerStatuses collects every planner's status, sorted by planner; a
// planner that does not answer in time is left out.
func (m *Main) PlannerStatuses(ctx context.Context) []PlannerStatus {
	var out []PlannerStatus
	for _, name := range slices.Sorted(maps.Keys(m.Children)) {
		if !isPlanner(name) {
			continue
		}
		res, err := m.Ask(ctx, name, messages.QueryPlannerStatus{})
		if err != nil {
			continue
		}
		switch r := res.(type) {
		case PlannerStatus:
			out = append(out, r)
		case []PlannerStatus:
			out = append(out, r...)
		}
	}
	slices.SortFunc(out, func(a, b PlannerStatus) int { return strings.Compare(a.Planner, b.Planner) })
	return out
}

// Resync asks every planner for a full reconcile, reads included.
func (m *Main) Resync() {
	for name, pid := range m.Children {
		if isPlanner(name) {
			m.System.Root.Send(pid, messages.ResyncNow{})
		}
	}
}

// Owned reads from the store the objects Labelgate owns of one kind and
// scope (store.Kind*; an empty scope is every scope).
func (m *Main) Owned(ctx context.Context, kind, scope string) ([]store.OwnedObject, error) {
	res, err := m.Ask(ctx, ChildStore, storeLoadOwned{Kind: kind, Scope: scope})
	if err != nil {
		return nil, err
	}
	r := res.(storeOwnedLoaded)
	return r.Objects, r.Err
}

// Cloudflare reads through one credential's cloudflare actor, at
// background priority: the reads share the token's budget with the
// planners and wait behind their calls. It writes nothing.
func (m *Main) Cloudflare(credential string) CloudflareReads {
	return CloudflareReads{m: m, credential: credential}
}

// CloudflareReads are the reads of one credential (Main.Cloudflare).
type CloudflareReads struct {
	m          *Main
	credential string
}

func (c CloudflareReads) call(ctx context.Context, account string, op cfOp) (any, error) {
	res, err := c.m.Ask(ctx, ChildCloudflare(c.credential), cfRequest{Priority: prioBackground, Account: account, Op: op})
	if err != nil {
		return nil, err
	}
	r := res.(cfResponse)
	return r.Result, r.Err
}

// TunnelConfig reads a tunnel's configuration in account.
func (c CloudflareReads) TunnelConfig(ctx context.Context, account, tunnelID string) (cfapi.TunnelConfig, error) {
	v, err := c.call(ctx, account, opGetTunnelConfig{TunnelID: tunnelID})
	if err != nil {
		return cfapi.TunnelConfig{}, err
	}
	return v.(cfapi.TunnelConfig), nil
}

// Zones lists the zones the credential's token sees.
func (c CloudflareReads) Zones(ctx context.Context) ([]cfapi.Zone, error) {
	v, err := c.call(ctx, "", opListZones{})
	if err != nil {
		return nil, err
	}
	return v.([]cfapi.Zone), nil
}

// Records lists a zone's DNS records.
func (c CloudflareReads) Records(ctx context.Context, zoneID string) ([]cfapi.Record, error) {
	v, err := c.call(ctx, "", opListRecords{ZoneID: zoneID})
	if err != nil {
		return nil, err
	}
	return v.([]cfapi.Record), nil
}

// AccessApps lists the Access applications of account.
func (c CloudflareReads) AccessApps(ctx context.Context, account string) ([]cfapi.AccessApp, error) {
	v, err := c.call(ctx, account, opListApps{})
	if err != nil {
		return nil, err
	}
	return v.([]cfapi.AccessApp), nil
}

// AccessPolicies lists the reusable Access policies of account.
func (c CloudflareReads) AccessPolicies(ctx context.Context, account string) ([]cfapi.AccessPolicy, error) {
	v, err := c.call(ctx, account, opListPolicies{})
	if err != nil {
		return nil, err
	}
	return v.([]cfapi.AccessPolicy), nil
}

// VerifyToken asks Cloudflare about the credential's token.
func (c CloudflareReads) VerifyToken(ctx context.Context, account string) (cfapi.TokenStatus, error) {
	v, err := c.call(ctx, account, opVerifyToken{})
	if err != nil {
		return cfapi.TokenStatus{}, err
	}
	return v.(cfapi.TokenStatus), nil
}
