package cfsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Zone is a simulated zone.
type Zone struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	AccountID string `json:"account_id"`
	Status    string `json:"status"` // default "active"
	// Plan is "free" (default), "pro", "business" or "enterprise"; it sets
	// the comment length limit and whether tags are allowed.
	Plan string `json:"plan"`
}

func (z *Zone) paid() bool { return z.Plan != "" && z.Plan != "free" }

// Record is a simulated DNS record, in Cloudflare's JSON shape.
type Record struct {
	ID         string         `json:"id"`
	ZoneID     string         `json:"zone_id"`
	ZoneName   string         `json:"zone_name"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Content    string         `json:"content"`
	Proxiable  bool           `json:"proxiable"`
	Proxied    bool           `json:"proxied"`
	TTL        int            `json:"ttl"`
	Priority   *int           `json:"priority,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
	Comment    string         `json:"comment"`
	Tags       []string       `json:"tags"`
	Meta       map[string]any `json:"meta"`
	Settings   map[string]any `json:"settings"`
	CreatedOn  time.Time      `json:"created_on"`
	ModifiedOn time.Time      `json:"modified_on"`
	// Foreign marks a record seeded as "created by someone else".
	Foreign bool `json:"-"`
}

// Tunnel is a simulated cfd_tunnel.
type Tunnel struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	AccountID string `json:"account_tag"`
	// Status is Cloudflare's: healthy, degraded, down or inactive. Unless
	// set explicitly (AddTunnel, SetTunnelConnectors) it follows the
	// connectors: healthy with an active connection, else down when the
	// tunnel ever had one, else inactive. AddTunnel's default is healthy.
	Status    string    `json:"status"`
	ConfigSrc string    `json:"config_src"` // default "cloudflare"
	CreatedAt time.Time `json:"created_at"`
	// Connectors are the cloudflared processes connected to the tunnel
	// (Cloudflare's "clients", GET …/cfd_tunnel/{id}/connections).
	// AddTunnel gives a healthy or degraded tunnel without connectors one
	// simulated connector (SimConnector).
	Connectors []TunnelConnector `json:"connectors"`
	// ConnsActiveAt is when the tunnel last went from no active connection
	// to one (zero: never connected); ConnsInactiveAt when it last lost its
	// last active connection (zero while connected).
	ConnsActiveAt   time.Time `json:"conns_active_at,omitzero"`
	ConnsInactiveAt time.Time `json:"conns_inactive_at,omitzero"`
	Deleted         bool      `json:"-"`
	Foreign         bool      `json:"-"`
}

// TunnelConfig is a stored configuration document: Config holds the
// document exactly as last PUT (or seeded), so unknown fields survive.
type TunnelConfig struct {
	Version   int             `json:"version"`
	Config    json.RawMessage `json:"config"`
	CreatedAt time.Time       `json:"created_at"`
}

// AccessApp is a simulated Access application. Doc is the stored document
// (every field as sent, plus id/aud/timestamps).
type AccessApp struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Domain  string         `json:"domain"`
	Type    string         `json:"type"`
	Doc     map[string]any `json:"doc"`
	Foreign bool           `json:"foreign"`
}

// AccessPolicy is a simulated reusable policy; Doc as for AccessApp.
type AccessPolicy struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Decision string         `json:"decision"`
	Doc      map[string]any `json:"doc"`
	Foreign  bool           `json:"foreign"`
}

// state is everything the API can see. It is only touched with Server.mu held.
type state struct {
	accountID string
	zones     []*Zone
	records   map[string][]*Record // zone id → records in creation order
	tunnels   []*Tunnel
	configs   map[string]*TunnelConfig // tunnel id → config
	apps      []*AccessApp
	policies  []*AccessPolicy
}

func newState(accountID string) *state {
	return &state{accountID: accountID, records: map[string][]*Record{}, configs: map[string]*TunnelConfig{}}
}

func (st *state) zone(id string) *Zone {
	for _, z := range st.zones {
		if z.ID == id {
			return z
		}
	}
	return nil
}

func (st *state) record(zoneID, id string) *Record {
	for _, r := range st.records[zoneID] {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (st *state) tunnel(id string) *Tunnel {
	for _, t := range st.tunnels {
		if t.ID == id && !t.Deleted {
			return t
		}
	}
	return nil
}

func (st *state) app(id string) *AccessApp {
	for _, a := range st.apps {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func (st *state) policy(id string) *AccessPolicy {
	for _, p := range st.policies {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// appsUsing counts the applications that reference policy id.
func (st *state) appsUsing(id string) int {
	n := 0
	for _, a := range st.apps {
		for _, l := range policyLinks(a.Doc["policies"]) {
			if l.ID == id {
				n++
				break
			}
		}
	}
	return n
}

// newID returns 32 hex characters, the shape of Cloudflare's zone, record
// and account ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newUUID returns a random version-4 UUID, the shape of tunnel, Access app
// and policy ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func cloneRecord(r *Record) *Record {
	c := *r
	if r.Priority != nil {
		p := *r.Priority
		c.Priority = &p
	}
	c.Tags = slices.Clone(r.Tags)
	if r.Data != nil {
		c.Data = map[string]any{}
		for k, v := range r.Data {
			c.Data[k] = v
		}
	}
	return &c
}

func normName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}
