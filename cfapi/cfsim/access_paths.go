package cfsim

import (
	"strings"
)

// GoverningApp returns the self-hosted Access application that Cloudflare
// applies to a request for host and path, modelled on Cloudflare's
// documented application paths:
//
//   - an application's domain is a hostname, optionally with a path:
//     "app.example.com", "app.example.com/webhook";
//   - a hostname covers itself; "*.example.com" covers every hostname below
//     example.com (not example.com itself);
//   - no path covers every path; a path covers itself and everything below
//     it at a segment boundary ("/webhook" covers "/webhook" and
//     "/webhook/x", not "/webhooks");
//   - when several applications cover a request, the most specific one
//     applies alone (rules are not inherited): an exact hostname before a
//     wildcard, then the longest path.
//
// Wildcards inside a path are not modelled (Labelgate never creates them).
func (s *Server) GoverningApp(host, path string) (AccessApp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *AccessApp
	var bestExact bool
	bestLen := -1
	for _, a := range s.st.apps {
		exact, n, ok := appCovers(a.Domain, host, path)
		if !ok {
			continue
		}
		if best == nil || (exact && !bestExact) || (exact == bestExact && n > bestLen) {
			best, bestExact, bestLen = a, exact, n
		}
	}
	if best == nil {
		return AccessApp{}, false
	}
	c := *best
	c.Doc, _ = jsonClone(best.Doc).(map[string]any)
	return c, true
}

// appCovers reports whether an application's domain covers a request for
// host and path, whether it names the host exactly, and the length of the
// path it names (the specificity).
func appCovers(domain, host, path string) (exact bool, pathLen int, ok bool) {
	appHost, appPath, _ := strings.Cut(domain, "/")
	appHost = strings.ToLower(appHost)
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case appHost == host:
		exact = true
	case strings.HasPrefix(appHost, "*.") && strings.HasSuffix(host, appHost[1:]) && len(host) > len(appHost)-1:
	default:
		return false, 0, false
	}
	appPath = "/" + strings.Trim(appPath, "/")
	if appPath == "/" {
		return exact, 0, true
	}
	if path == "" {
		path = "/"
	}
	if path != appPath && !strings.HasPrefix(path, appPath+"/") {
		return false, 0, false
	}
	return exact, len(appPath), true
}
