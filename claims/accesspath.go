package claims

import (
	"regexp"
	"strings"
)

// accessPathRE is the one shape of route path that an Access application
// path can express exactly: an anchored, literal prefix that ends at a
// segment boundary. cloudflared matches the route's regular expression
// unanchored; Access covers a path and everything below it, so the
// boundary is what keeps "/admin" from also routing "/adminx" under the
// hostname's (possibly weaker) application.
//
//	^/webhook(/|$)   /webhook and below
//	^/webhook/       below /webhook (Access also covers /webhook itself)
//	^/webhook/.*     the same
//	^/webhook$       /webhook only (Access also covers below it)
var accessPathRE = regexp.MustCompile(`^\^((?:/(?:[A-Za-z0-9_~-]|\\\.)+)+)(\(/\|\$\)|/|/\.\*|\$)$`)

// accessPathOK reports whether a route path regex can carry an Access
// application of its own.
func accessPathOK(path string) bool { return accessPathRE.MatchString(path) }

// AccessPath is the Access application path of a route path regex
// ("^/webhook(/|$)" → "/webhook"); "" when it has none (see accessPathOK).
func AccessPath(path string) string {
	m := accessPathRE.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], `\.`, ".")
}
