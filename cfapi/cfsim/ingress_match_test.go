package cfsim

import (
	"strings"
	"testing"
)

func TestRouteForFirstMatchTopDown(t *testing.T) {
	s := NewServer(t)
	tun := s.AddTunnel(Tunnel{Name: "t"})
	if err := s.SetTunnelConfig(tun.ID, []byte(`{"ingress":[
		{"hostname":"www.example.com","path":"^/static/img/","service":"http://img:80"},
		{"hostname":"www.example.com","path":"\\.(jpg|png|css|js)$","service":"http://assets:80"},
		{"hostname":"www.example.com","service":"http://front:80"},
		{"hostname":"*.example.com","service":"http://wild:80"},
		{"service":"http_status:404"}]}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"www.example.com", "/", "http://front:80"},
		{"WWW.example.com", "/app.js", "http://assets:80"},
		{"www.example.com", "/static/img/logo.png", "http://img:80"}, // both path rules match: the first wins
		{"www.example.com", "/static/img/", "http://img:80"},
		{"www.example.com", "/docs/a.css?v=2", "http://assets:80"}, // the path is matched, not the query
		{"www.example.com", "/docs/a.cssx", "http://front:80"},
		{"api.example.com", "/x.js", "http://wild:80"},
		{"example.org", "/", "http_status:404"},
	} {
		path, _, _ := strings.Cut(tc.path, "?")
		if got, _ := s.RouteFor(tun.ID, tc.host, path); got != tc.want {
			t.Errorf("%s%s → %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
	if _, ok := s.RouteFor("no-such-tunnel", "www.example.com", "/"); ok {
		t.Error("a tunnel without configuration routes nothing")
	}
}
