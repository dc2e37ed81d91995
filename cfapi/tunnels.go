package cfapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/shared"
	"github.com/cloudflare/cloudflare-go/v7/zero_trust"
)

// ListTunnels lists the account's cloudflared tunnels that are not deleted,
// all pages.
func (c *Client) ListTunnels(ctx context.Context) ([]Tunnel, error) {
	const op = "list tunnels"
	if err := c.needAccount(op); err != nil {
		return nil, err
	}
	return pageAll(ctx, c, op, perPageTunnels,
		func(ctx context.Context, page int, opts ...option.RequestOption) ([]Tunnel, string, error) {
			var p zero_trust.TunnelCloudflaredListParams
			p.AccountID.Value, p.AccountID.Present = c.accountID, true
			p.IsDeleted.Value, p.IsDeleted.Present = false, true
			p.Page.Value, p.Page.Present = float64(page), true
			p.PerPage.Value, p.PerPage.Present = perPageTunnels, true
			res, err := c.tunnels.List(ctx, p, opts...)
			if err != nil {
				return nil, "", err
			}
			out := make([]Tunnel, 0, len(res.Result))
			for _, t := range res.Result {
				out = append(out, fromTunnel(t))
			}
			return out, res.ResultInfo.JSON.RawJSON(), nil
		})
}

// GetTunnel reads one tunnel.
func (c *Client) GetTunnel(ctx context.Context, tunnelID string) (Tunnel, error) {
	const op = "get tunnel"
	if err := firstErr(c.needAccount(op), checkID(op, "tunnel id", tunnelID)); err != nil {
		return Tunnel{}, err
	}
	var out Tunnel
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.TunnelCloudflaredGetParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.tunnels.Get(ctx, tunnelID, p, opts...)
		if err == nil {
			out = fromTunnel(*res)
		}
		return err
	})
	return out, err
}

func fromTunnel(t shared.CloudflareTunnel) Tunnel {
	out := Tunnel{
		ID: t.ID, Name: t.Name, AccountID: t.AccountTag, Status: string(t.Status),
		ConfigSrc: string(t.ConfigSrc), CreatedAt: t.CreatedAt, DeletedAt: t.DeletedAt,
		ConnsActiveAt: t.ConnsActiveAt, ConnsInactiveAt: t.ConnsInactiveAt,
	}
	return out
}

// ListTunnelConnections reads the tunnel's connectors (cloudflared
// processes), each with its connections to Cloudflare's edge. The
// endpoint answers one page.
func (c *Client) ListTunnelConnections(ctx context.Context, tunnelID string) ([]TunnelConnector, error) {
	const op = "list tunnel connections"
	if err := firstErr(c.needAccount(op), checkID(op, "tunnel id", tunnelID)); err != nil {
		return nil, err
	}
	var out []TunnelConnector
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.TunnelCloudflaredConnectionGetParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.tunConns.Get(ctx, tunnelID, p, opts...)
		if err != nil {
			return err
		}
		out = make([]TunnelConnector, 0, len(res.Result))
		for _, cl := range res.Result {
			tc := TunnelConnector{ID: cl.ID, Version: cl.Version, Arch: cl.Arch, RunAt: cl.RunAt}
			for _, conn := range cl.Conns {
				tc.Connections = append(tc.Connections, TunnelConnection{
					ID: conn.ID, ConnectorID: cmp.Or(conn.ClientID, cl.ID), Version: cmp.Or(conn.ClientVersion, cl.Version),
					Colo: conn.ColoName, OriginIP: conn.OriginIP, OpenedAt: conn.OpenedAt,
					PendingReconnect: pendingReconnect(conn.JSON.ExtraFields),
				})
			}
			out = append(out, tc)
		}
		return nil
	})
	return out, err
}

// pendingReconnect reads is_pending_reconnect, which the API answers on
// each connection and cloudflare-go v7.9.0 does not model (it lands among
// the extra fields, whose type is internal to the SDK: hence the type
// parameter).
func pendingReconnect[F interface{ Raw() string }](extra map[string]F) bool {
	f, ok := extra["is_pending_reconnect"]
	return ok && f.Raw() == "true"
}

// The tunnel configuration is read and written as raw JSON: the SDK's typed
// response and param structs drop every key they do not model (bastionMode,
// proxyAddress, proxyPort, ipRules, access, …), which would erase other
// people's settings on the next PUT.

type tunnelConfigEnvelope struct {
	Result struct {
		TunnelID  string          `json:"tunnel_id"`
		Version   int             `json:"version"`
		Source    string          `json:"source"`
		CreatedAt time.Time       `json:"created_at"`
		Config    json.RawMessage `json:"config"`
	} `json:"result"`
}

// GetTunnelConfig reads the tunnel's configuration document.
func (c *Client) GetTunnelConfig(ctx context.Context, tunnelID string) (TunnelConfig, error) {
	const op = "get tunnel configuration"
	if err := firstErr(c.needAccount(op), checkID(op, "tunnel id", tunnelID)); err != nil {
		return TunnelConfig{}, err
	}
	var raw []byte
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.TunnelCloudflaredConfigurationGetParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		_, err := c.tunCfg.Get(ctx, tunnelID, p, append(opts, option.WithResponseBodyInto(&raw))...)
		return err
	})
	if err != nil {
		return TunnelConfig{}, err
	}
	return decodeTunnelConfigEnvelope(op, raw)
}

// PutTunnelConfig replaces the whole configuration document with cfg and
// returns what Cloudflare stored (with its new version). Read-only fields of
// cfg are ignored.
func (c *Client) PutTunnelConfig(ctx context.Context, tunnelID string, cfg TunnelConfig) (TunnelConfig, error) {
	const op = "put tunnel configuration"
	if err := firstErr(c.needAccount(op), checkID(op, "tunnel id", tunnelID)); err != nil {
		return TunnelConfig{}, err
	}
	doc, err := cfg.MarshalJSON()
	if err != nil {
		return TunnelConfig{}, argError(op, "encoding configuration: %v", err)
	}
	body, err := json.Marshal(map[string]json.RawMessage{"config": doc})
	if err != nil {
		return TunnelConfig{}, argError(op, "encoding configuration: %v", err)
	}
	var raw []byte
	err = c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.TunnelCloudflaredConfigurationUpdateParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		_, err := c.tunCfg.Update(ctx, tunnelID, p, append(opts,
			option.WithRequestBody(jsonContentType, body), option.WithResponseBodyInto(&raw))...)
		return err
	})
	if err != nil {
		return TunnelConfig{}, err
	}
	return decodeTunnelConfigEnvelope(op, raw)
}

func decodeTunnelConfigEnvelope(op string, raw []byte) (TunnelConfig, error) {
	var env tunnelConfigEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return TunnelConfig{}, &Error{Op: op, Kind: ErrTransient, Err: fmt.Errorf("decoding response: %w", err)}
	}
	var cfg TunnelConfig
	if len(env.Result.Config) > 0 && !bytes.Equal(bytes.TrimSpace(env.Result.Config), []byte("null")) {
		if err := cfg.UnmarshalJSON(env.Result.Config); err != nil {
			return TunnelConfig{}, &Error{Op: op, Kind: ErrTransient, Err: fmt.Errorf("decoding config: %w", err)}
		}
	}
	cfg.TunnelID, cfg.Version, cfg.Source = env.Result.TunnelID, env.Result.Version, env.Result.Source
	return cfg, nil
}

// UnmarshalJSON reads a config document ({"ingress":[…],"originRequest":{…},…}).
func (tc *TunnelConfig) UnmarshalJSON(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return err
	}
	*tc = TunnelConfig{}
	for k, v := range top {
		switch k {
		case "ingress":
			var rules []json.RawMessage
			if err := json.Unmarshal(v, &rules); err != nil {
				return fmt.Errorf("ingress: %w", err)
			}
			for i, raw := range rules {
				r, err := parseIngressRule(raw)
				if err != nil {
					return fmt.Errorf("ingress[%d]: %w", i, err)
				}
				tc.Ingress = append(tc.Ingress, r)
			}
		case "originRequest":
			tc.OriginRequest = append(json.RawMessage(nil), v...)
		case "warp-routing":
			tc.WarpRouting = append(json.RawMessage(nil), v...)
		default:
			if tc.Extra == nil {
				tc.Extra = map[string]json.RawMessage{}
			}
			tc.Extra[k] = append(json.RawMessage(nil), v...)
		}
	}
	return nil
}

// MarshalJSON writes the config document: the modelled keys, then every
// kept key verbatim.
func (tc TunnelConfig) MarshalJSON() ([]byte, error) {
	top := make(map[string]json.RawMessage, len(tc.Extra)+3)
	for k, v := range tc.Extra {
		top[k] = v
	}
	// No rules: no "ingress" key (a document with only warp-routing stays so).
	if len(tc.Ingress) > 0 {
		rules := make([]json.RawMessage, 0, len(tc.Ingress))
		for i, r := range tc.Ingress {
			b, err := r.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("ingress[%d]: %w", i, err)
			}
			rules = append(rules, b)
		}
		b, err := json.Marshal(rules)
		if err != nil {
			return nil, err
		}
		top["ingress"] = b
	}
	if len(tc.OriginRequest) > 0 {
		top["originRequest"] = tc.OriginRequest
	}
	if len(tc.WarpRouting) > 0 {
		top["warp-routing"] = tc.WarpRouting
	}
	return json.Marshal(top)
}

func parseIngressRule(raw json.RawMessage) (IngressRule, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return IngressRule{}, err
	}
	r := IngressRule{Raw: append(json.RawMessage(nil), raw...)}
	str := func(k string) (string, error) {
		v, ok := m[k]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	}
	var err error
	if r.Hostname, err = str("hostname"); err != nil {
		return IngressRule{}, fmt.Errorf("hostname: %w", err)
	}
	if r.Path, err = str("path"); err != nil {
		return IngressRule{}, fmt.Errorf("path: %w", err)
	}
	if r.Service, err = str("service"); err != nil {
		return IngressRule{}, fmt.Errorf("service: %w", err)
	}
	if v, ok := m["originRequest"]; ok && string(v) != "null" {
		if err := jsonUnmarshal(v, &r.OriginRequest); err != nil {
			return IngressRule{}, fmt.Errorf("originRequest: %w", err)
		}
	}
	return r, nil
}

// MarshalJSON writes the rule: Raw verbatim when the typed fields still
// describe it, else the typed fields laid over Raw's keys.
func (r IngressRule) MarshalJSON() ([]byte, error) {
	var m map[string]json.RawMessage
	if len(r.Raw) > 0 {
		orig, err := parseIngressRule(r.Raw)
		if err != nil {
			return nil, fmt.Errorf("raw rule: %w", err)
		}
		if orig.Hostname == r.Hostname && orig.Path == r.Path && orig.Service == r.Service &&
			reflect.DeepEqual(orig.OriginRequest, r.OriginRequest) {
			return r.Raw, nil
		}
		if err := json.Unmarshal(r.Raw, &m); err != nil {
			return nil, err
		}
	} else {
		m = map[string]json.RawMessage{}
	}
	set := func(k, v string) {
		if v == "" {
			delete(m, k)
			return
		}
		b, _ := json.Marshal(v)
		m[k] = b
	}
	set("hostname", r.Hostname)
	set("path", r.Path)
	set("service", r.Service)
	if r.OriginRequest == nil {
		delete(m, "originRequest")
	} else {
		b, err := json.Marshal(r.OriginRequest)
		if err != nil {
			return nil, fmt.Errorf("originRequest: %w", err)
		}
		m["originRequest"] = b
	}
	return json.Marshal(m)
}
