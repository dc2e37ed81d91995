package actors

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/store"
)

// Connector health (issue 13): a route is only reachable while its tunnel
// has a running connector (cloudflared). Each tunnel actor reads its
// tunnel's status (the tunnel GET) and connectors (the connections
// endpoint; the GET's own list is deprecated) at background priority, every
// connectorsPeriod, one read at a time, and reports them on its planner
// status. Losing the last connection while the tunnel carries routes is an
// event; so is getting one back.

const (
	// connectorsPeriod is the time between the end of one read and the
	// start of the next: two calls per tunnel per minute.
	connectorsPeriod = 60 * time.Second
	// connectorsFirstRead lets start-up's reconciles take the budget first.
	connectorsFirstRead = 3 * time.Second
)

// Event kinds of connector health.
const (
	eventConnectorLost     = "tunnel_connector_lost"
	eventConnectorRestored = "tunnel_connector_restored"
)

type connectorsTick struct{}

// connectorRead is the tunnel actor's state of the connector health read.
type connectorRead struct {
	busy          bool
	getID, listID uint64
	tunnel        cfapi.Tunnel // the GET's answer while the list runs
	// known and up are the last successful read's verdict: at least one
	// active connection.
	known, up bool
	// reported: the tunnel was reported without a connector (the lost
	// event, or the one warning for a tunnel found without one), so a
	// connector that comes back is reported too.
	reported bool
	// failing: the last read failed and was logged; later failures are not
	// logged again until a read succeeds.
	failing bool
}

// readConnectors starts a read unless one runs (a read never overlaps
// another; the one running schedules the next when it ends).
func (a *tunnelActor) readConnectors(ctx actor.Context) {
	if a.conn.busy {
		return
	}
	a.conn.busy = true
	a.cancel("connectors")
	a.conn.getID = a.ask(ctx, prioBackground, a.ref.AccountID, opGetTunnel{TunnelID: a.ref.TunnelID})
}

// onConnectorsResponse handles an answer of the connector read; it reports
// whether m was one.
func (a *tunnelActor) onConnectorsResponse(ctx actor.Context, m cfResponse) bool {
	switch m.ID {
	case 0:
		return false
	case a.conn.getID:
		a.conn.getID = 0
		if m.Err != nil {
			a.connectorsFailed(ctx, fmt.Errorf("reading the tunnel: %w", m.Err))
			return true
		}
		a.conn.tunnel, _ = m.Result.(cfapi.Tunnel)
		a.conn.listID = a.ask(ctx, prioBackground, a.ref.AccountID, opListTunnelConnections{TunnelID: a.ref.TunnelID})
		return true
	case a.conn.listID:
		a.conn.listID = 0
		if m.Err != nil {
			a.connectorsFailed(ctx, fmt.Errorf("reading the tunnel's connections: %w", m.Err))
			return true
		}
		connectors, _ := m.Result.([]cfapi.TunnelConnector)
		a.connectorsRead(ctx, a.conn.tunnel.Status, connectors)
		return true
	}
	return false
}

func (a *tunnelActor) connectorsDone(ctx actor.Context) {
	a.conn.busy = false
	a.conn.tunnel = cfapi.Tunnel{}
	a.after(ctx, "connectors", connectorsPeriod, connectorsTick{})
}

// connectorsFailed keeps the last good reading (a failed read says nothing
// about the connectors), logs the first failure of a run of them and
// retries on the next period.
func (a *tunnelActor) connectorsFailed(ctx actor.Context, err error) {
	c := &a.status.Connectors
	c.LastError, c.LastErrorAt = err.Error(), time.Now()
	if !a.conn.failing {
		a.conn.failing = true
		a.log().Warn("reading the tunnel's connectors failed; will retry", "err", err, "retry_in", connectorsPeriod)
	}
	a.connectorsDone(ctx)
}

// connectorsRead records a successful read and reports what changed.
func (a *tunnelActor) connectorsRead(ctx actor.Context, status string, connectors []cfapi.TunnelConnector) {
	if a.conn.failing {
		a.conn.failing = false
		a.log().Info("reading the tunnel's connectors works again")
	}
	a.status.Connectors = TunnelConnectors{Status: status, Connectors: connectors, ReadAt: time.Now()}
	a.observeConnectors(ctx)
	a.connectorsDone(ctx)
}

// observeConnectors turns the last read into events: a tunnel that carries
// routes and loses its last active connection (WARN, an event), one that
// gets a connection back after that (INFO, an event). A tunnel found
// without a connector while it carries routes, with no loss seen (at
// start-up, or routes arriving on a tunnel already down), is logged once
// as a warning and is not an event.
func (a *tunnelActor) observeConnectors(ctx actor.Context) {
	c := a.status.Connectors
	n, routes := c.Active(), len(a.desired)
	wasKnown, wasUp := a.conn.known, a.conn.up
	a.conn.known, a.conn.up = true, n > 0
	switch {
	case wasKnown && wasUp && n == 0 && routes > 0:
		a.conn.reported = true
		msg := fmt.Sprintf("tunnel %s lost its last connector (status %s): its %d route(s) are unreachable until a cloudflared connects", a.name, orUnknown(c.Status), routes)
		a.log().Warn(msg, "event", eventConnectorLost, "status", c.Status, "routes", routes)
		a.connectorEvent(ctx, store.LevelWarn, eventConnectorLost, msg)
	case n > 0 && a.conn.reported:
		a.conn.reported = false
		msg := fmt.Sprintf("tunnel %s has a connector again (status %s, %d connection(s)%s)", a.name, orUnknown(c.Status), n, colos(c.Connectors))
		a.log().Info(msg, "event", eventConnectorRestored, "status", c.Status, "connections", n)
		a.connectorEvent(ctx, store.LevelInfo, eventConnectorRestored, msg)
	case n == 0 && routes > 0 && !a.conn.reported:
		a.conn.reported = true
		a.log().Warn(fmt.Sprintf("tunnel %s carries %d route(s) and has no connector (status %s): they are unreachable until a cloudflared connects", a.name, routes, orUnknown(c.Status)),
			"status", c.Status, "routes", routes)
	}
}

func (a *tunnelActor) connectorEvent(ctx actor.Context, level, kind, msg string) {
	ctx.Send(a.cfg.Store, storeAppendEvents{Events: []store.Event{{At: time.Now(), Level: level, Kind: kind, Message: msg}}})
}

func orUnknown(status string) string {
	if status == "" {
		return "unknown"
	}
	return status
}

// colos lists the data centers of the active connections (", via ams01, fra02").
func colos(cs []cfapi.TunnelConnector) string {
	var out []string
	for _, c := range cs {
		for _, conn := range c.Connections {
			if !conn.PendingReconnect && conn.Colo != "" && !slices.Contains(out, conn.Colo) {
				out = append(out, conn.Colo)
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " via " + strings.Join(out, ", ")
}
