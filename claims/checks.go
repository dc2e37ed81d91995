package claims

import "fmt"

// Check names one rule a container's labels can break. Every error of a
// Report is attributed to one, so a test can enumerate them (Checks): a
// new rule gets a new Check, and every caller's test sees it.
type Check int

// The checks, in the order Build makes them.
const (
	// CheckLabel: labels.Parse refused a label (unknown kind or property,
	// bad value, missing required property).
	CheckLabel Check = iota + 1
	// CheckNoTunnel: a tunnel route while main has no tunnel configured.
	CheckNoTunnel
	// CheckUnknownTunnel: the route's tunnel (its label or a default) is
	// not a configured tunnel.
	CheckUnknownTunnel
	// CheckScopeHostname: an agent's hostname outside its
	// allowed_hostnames.
	CheckScopeHostname
	// CheckScopeZone: an agent's hostname outside its allowed_zones.
	CheckScopeZone
	// CheckScopeTunnel: an agent's route through a tunnel outside its
	// allowed_tunnels.
	CheckScopeTunnel
	// CheckOneTunnel: a hostname routed through two tunnels by one
	// container (its CNAME can point at one only).
	CheckOneTunnel
	// CheckDuplicatePath: two routes of one hostname with the same path.
	CheckDuplicatePath
	// CheckOneAccess: two Access templates for one hostname.
	CheckOneAccess
	// CheckRecordOnTunnelHost: a DNS record on a hostname the container
	// routes through a tunnel (its record is the tunnel's CNAME).
	CheckRecordOnTunnelHost
	// CheckCNAMEAlone: a CNAME beside another record of the same name.
	CheckCNAMEAlone
	// CheckDuplicateRecord: the same record declared twice.
	CheckDuplicateRecord
	// CheckAccessPath: a protected route whose path is not a plain prefix,
	// so no Access application path covers exactly what it serves.
	CheckAccessPath

	numChecks // keep last: Checks lists every check before it
)

var checkNames = [numChecks]string{
	CheckLabel:              "label",
	CheckNoTunnel:           "no-tunnel",
	CheckUnknownTunnel:      "unknown-tunnel",
	CheckScopeHostname:      "scope-hostname",
	CheckScopeZone:          "scope-zone",
	CheckScopeTunnel:        "scope-tunnel",
	CheckOneTunnel:          "one-tunnel",
	CheckDuplicatePath:      "duplicate-path",
	CheckOneAccess:          "one-access",
	CheckRecordOnTunnelHost: "record-on-tunnel-hostname",
	CheckCNAMEAlone:         "cname-alone",
	CheckDuplicateRecord:    "duplicate-record",
	CheckAccessPath:         "access-path",
}

// Checks lists every check.
func Checks() []Check {
	out := make([]Check, 0, numChecks-1)
	for c := CheckLabel; c < numChecks; c++ {
		out = append(out, c)
	}
	return out
}

func (c Check) String() string {
	if c > 0 && c < numChecks && checkNames[c] != "" {
		return checkNames[c]
	}
	return fmt.Sprintf("Check(%d)", int(c))
}

// MarshalText names the check in JSON.
func (c Check) MarshalText() ([]byte, error) { return []byte(c.String()), nil }
