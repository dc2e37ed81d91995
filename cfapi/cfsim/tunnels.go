package cfsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

func tunnelJSON(t *Tunnel) map[string]any {
	return map[string]any{
		"id":                t.ID,
		"account_tag":       t.AccountID,
		"name":              t.Name,
		"created_at":        t.CreatedAt,
		"deleted_at":        nil,
		"connections":       flatConnsJSON(t),
		"conns_active_at":   nullTime(t.ConnsActiveAt),
		"conns_inactive_at": nullTime(t.ConnsInactiveAt),
		"tun_type":          "cfd_tunnel",
		"metadata":          map[string]any{},
		"status":            t.Status,
		"remote_config":     t.ConfigSrc == "cloudflare",
		"config_src":        t.ConfigSrc,
	}
}

func (s *Server) listTunnels(c *reqCtx, r *http.Request) {
	if !s.checkAccount(c, r) {
		return
	}
	name, uuid := c.query.Get("name"), c.query.Get("uuid")
	var out []map[string]any
	for _, t := range s.st.tunnels {
		if t.Deleted && c.query.Get("is_deleted") != "true" || !t.Deleted && c.query.Get("is_deleted") == "true" {
			continue
		}
		if name != "" && t.Name != name || uuid != "" && t.ID != uuid {
			continue
		}
		out = append(out, tunnelJSON(t))
	}
	page, info := paginate(c, out, pageTunnels)
	c.okWith(http.StatusOK, page, info, nil)
}

func (s *Server) tunnelFor(c *reqCtx, r *http.Request) *Tunnel {
	if !s.checkAccount(c, r) {
		return nil
	}
	t := s.st.tunnel(r.PathValue("id"))
	if t == nil {
		c.fail(errTunnelNotFound)
	}
	return t
}

func (s *Server) getTunnel(c *reqCtx, r *http.Request) {
	if t := s.tunnelFor(c, r); t != nil {
		c.ok(tunnelJSON(t))
	}
}

func (s *Server) configJSON(t *Tunnel) map[string]any {
	out := map[string]any{
		"account_id": s.st.accountID,
		"tunnel_id":  t.ID,
		"version":    0,
		"config":     nil,
		"source":     t.ConfigSrc,
		"created_at": t.CreatedAt,
	}
	if cfg := s.st.configs[t.ID]; cfg != nil {
		out["version"] = cfg.Version
		out["config"] = cfg.Config
		out["created_at"] = cfg.CreatedAt
	}
	return out
}

func (s *Server) getTunnelConfig(c *reqCtx, r *http.Request) {
	if t := s.tunnelFor(c, r); t != nil {
		c.ok(s.configJSON(t))
	}
}

// putTunnelConfig replaces the whole document (Cloudflare keeps no part of
// the old one) after cloudflared's validation, and bumps the version.
func (s *Server) putTunnelConfig(c *reqCtx, r *http.Request) {
	t := s.tunnelFor(c, r)
	if t == nil {
		return
	}
	var in struct {
		Config json.RawMessage `json:"config"`
	}
	if !c.decode(&in) {
		return
	}
	doc := bytes.TrimSpace(in.Config)
	if len(doc) == 0 || string(doc) == "null" {
		c.fail(errTunnelConfig.withMessage("Bad Configuration: config is required"))
		return
	}
	if err := ValidateTunnelConfig(doc); err != nil {
		c.fail(errTunnelConfig.withMessage("Bad Configuration: Validation failed: " + err.Error()))
		return
	}
	cfg := s.st.configs[t.ID]
	if cfg == nil {
		cfg = &TunnelConfig{}
		s.st.configs[t.ID] = cfg
	}
	cfg.Version++
	cfg.Config = append(json.RawMessage(nil), doc...)
	cfg.CreatedAt = s.now().UTC()
	c.touch(t.ID, t.Foreign)
	c.ok(s.configJSON(t))
}

// Errors of cloudflared's ingress validation (cloudflared ingress/ingress.go,
// same wording).
var (
	errLastRuleNotCatchAll  = errors.New("The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)")
	errBadWildcard          = errors.New(`Hostname patterns can have at most one wildcard character ("*") and it can only be used for subdomains, e.g. "*.example.com"`)
	errHostnameContainsPort = errors.New("Hostname cannot contain a port")
)

// ValidateTunnelConfig applies cloudflared's ingress rules to a config
// document ({"ingress":[…], …}). Keys it does not check are left alone.
func ValidateTunnelConfig(doc []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return fmt.Errorf("config must be a JSON object: %v", err)
	}
	raw, ok := top["ingress"]
	if !ok || string(raw) == "null" {
		return nil // a config may hold only warp-routing / originRequest
	}
	var rules []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rules); err != nil {
		return fmt.Errorf("ingress must be a list of rules: %v", err)
	}
	for i, rule := range rules {
		if err := validateRule(rule, i, len(rules)); err != nil {
			return err
		}
	}
	return nil
}

func validateRule(rule map[string]json.RawMessage, i, n int) error {
	str := func(k string) (string, error) {
		v, ok := rule[k]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("Rule #%d: %s must be a string", i+1, k)
		}
		return s, nil
	}
	hostname, err := str("hostname")
	if err != nil {
		return err
	}
	path, err := str("path")
	if err != nil {
		return err
	}
	service, err := str("service")
	if err != nil {
		return err
	}
	var origin struct {
		BastionMode bool `json:"bastionMode"`
	}
	if v, ok := rule["originRequest"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &origin); err != nil {
			return fmt.Errorf("Rule #%d: originRequest is invalid: %v", i+1, err)
		}
	}
	if err := validateService(service, origin.BastionMode); err != nil {
		return err
	}
	// Hostname: no port; one wildcard, only as the whole leftmost label.
	if _, _, err := net.SplitHostPort(hostname); err == nil {
		return errHostnameContainsPort
	}
	if strings.Contains(hostname, "*") && hostname != "*" && (!strings.HasPrefix(hostname, "*.") || strings.Count(hostname, "*") > 1) {
		return errBadWildcard
	}
	catchAll := (hostname == "" || hostname == "*") && path == ""
	last := i == n-1
	if last && !catchAll {
		return errLastRuleNotCatchAll
	}
	if !last && catchAll {
		return fmt.Errorf("Rule #%d is matching the hostname '%s', but this will match every hostname, meaning the rules which follow it will never be triggered.", i+1, hostname)
	}
	if path != "" {
		if _, err := regexp.Compile(path); err != nil {
			return fmt.Errorf("Rule #%d has an invalid regex: %v", i+1, err)
		}
	}
	return nil
}

// validateService accepts cloudflared's service forms.
func validateService(service string, bastionMode bool) error {
	switch {
	case strings.HasPrefix(service, "unix:"), strings.HasPrefix(service, "unix+tls:"):
		return nil // cloudflared does not validate socket paths
	case strings.HasPrefix(service, "http_status:"):
		code, err := strconv.Atoi(strings.TrimPrefix(service, "http_status:"))
		if err != nil || code < 100 || code > 999 {
			return fmt.Errorf("invalid HTTP status code: %s", strings.TrimPrefix(service, "http_status:"))
		}
		return nil
	case service == "hello_world", service == "hello-world", service == "helloworld",
		service == "bastion", service == "socks-proxy", bastionMode:
		return nil
	}
	u, err := url.Parse(service)
	if err != nil || u.Scheme == "" || u.Hostname() == "" {
		return fmt.Errorf("%s is an invalid address, please make sure it has a scheme and a hostname", service)
	}
	if u.Path != "" {
		return fmt.Errorf("%s is an invalid address, ingress rules don't support proxying to a different path on the origin service. The path will be the same as the eyeball request's path", service)
	}
	return nil
}
