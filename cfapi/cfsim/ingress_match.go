package cfsim

import (
	"encoding/json"
	"regexp"
	"strings"
)

// RouteFor returns the service a tunnel's connector (cloudflared) sends a
// request for host and path to, from the tunnel's stored configuration: the
// first ingress rule whose hostname and path match, top-down, as cloudflared
// matches them (hostname case-insensitively, "*.example.com" any hostname
// below example.com; path an unanchored Go regular expression; a rule
// without hostname or path matches everything). ok is false when the
// tunnel has no configuration or no rule matches.
func (s *Server) RouteFor(tunnelID, host, path string) (service string, ok bool) {
	cfg, found := s.TunnelConfigOf(tunnelID)
	if !found {
		return "", false
	}
	var doc struct {
		Ingress []struct {
			Hostname string `json:"hostname"`
			Path     string `json:"path"`
			Service  string `json:"service"`
		} `json:"ingress"`
	}
	if err := json.Unmarshal(cfg.Config, &doc); err != nil {
		return "", false
	}
	host = strings.ToLower(host)
	for _, r := range doc.Ingress {
		if !hostMatches(strings.ToLower(r.Hostname), host) {
			continue
		}
		if r.Path != "" {
			re, err := regexp.Compile(r.Path)
			if err != nil || !re.MatchString(path) {
				continue
			}
		}
		return r.Service, true
	}
	return "", false
}

func hostMatches(rule, host string) bool {
	switch {
	case rule == "" || rule == "*":
		return true
	case strings.HasPrefix(rule, "*."):
		return strings.HasSuffix(host, rule[1:])
	}
	return rule == host
}
