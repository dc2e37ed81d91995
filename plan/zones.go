package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/labelgate/labelgate/cfapi"
)

// ZoneOwner is a DNS zone and the one credential that reconciles it.
type ZoneOwner struct {
	Zone       cfapi.Zone
	Credential string
	// Visible are the credentials whose zone list holds the zone, sorted.
	Visible []string
}

// AssignZones decides (for the DNS actor and the HTTP surface alike), from every credential's zone list, which credential
// reconciles each zone, by zone id: a zone several credentials see is
// reconciled once, with pick's choice (config.CredentialRules.Zone). A
// domain listed under several ids (the same name added to two accounts)
// keeps one: an active one first, then the one seen by the credential pick
// prefers among all of them, then the smallest id; the others are reported
// in lost, by id, and not reconciled. notes say, per zone seen by several
// credentials, which one reconciles it.
func AssignZones(zones map[string][]cfapi.Zone, pick func(zone string, visible []string) string) (owners map[string]ZoneOwner, lost map[string]string, notes []string) {
	byID := map[string]*ZoneOwner{}
	for _, cred := range slices.Sorted(maps.Keys(zones)) {
		for _, z := range zones[cred] {
			o := byID[z.ID]
			if o == nil {
				o = &ZoneOwner{Zone: z}
				byID[z.ID] = o
			}
			if !slices.Contains(o.Visible, cred) {
				o.Visible = append(o.Visible, cred)
			}
		}
	}
	byName := map[string][]*ZoneOwner{}
	for _, o := range byID {
		slices.Sort(o.Visible)
		o.Credential = pick(o.Zone.Name, o.Visible)
		n := strings.TrimSuffix(strings.ToLower(o.Zone.Name), ".")
		byName[n] = append(byName[n], o)
	}
	owners, lost = map[string]ZoneOwner{}, map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		same := byName[name]
		if len(same) > 1 {
			var all []string
			for _, o := range same {
				all = append(all, o.Visible...)
			}
			preferred := pick(name, all)
			slices.SortFunc(same, func(a, b *ZoneOwner) int {
				return cmp.Or(
					-cmp.Compare(boolInt(a.Zone.Status == "active"), boolInt(b.Zone.Status == "active")),
					-cmp.Compare(boolInt(slices.Contains(a.Visible, preferred)), boolInt(slices.Contains(b.Visible, preferred))),
					cmp.Compare(a.Zone.ID, b.Zone.ID))
			})
			for _, o := range same[1:] {
				lost[o.Zone.ID] = fmt.Sprintf("zone %s (id %s, seen by %s) is not reconciled: the zone of the same name with id %s (seen by %s) is",
					o.Zone.Name, o.Zone.ID, strings.Join(o.Visible, ", "), same[0].Zone.ID, strings.Join(same[0].Visible, ", "))
			}
		}
		o := same[0]
		owners[o.Zone.ID] = *o
		if len(o.Visible) > 1 {
			notes = append(notes, fmt.Sprintf("zone %s is visible to credentials %s; it is reconciled with credential %s only, which writes every record labelgate keeps there",
				o.Zone.Name, strings.Join(o.Visible, ", "), o.Credential))
		}
	}
	return owners, lost, notes
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PlaceRecord finds the zone a DNS record belongs in: the most specific zone
// containing its name among those its credential sees (cred, from
// config.CredentialRules.Record). The zone is then written by its owner,
// whatever credential the record named. The problem says why there is none.
func PlaceRecord(name, cred string, zones map[string][]cfapi.Zone, owners map[string]ZoneOwner, lost map[string]string) (ZoneOwner, string) {
	if cred == "" {
		return ZoneOwner{}, "no credential: no cloudflare.credentials.<name>.zones pattern matches this hostname and there is no default credential (cloudflare.api_token); add a zones pattern or a credential label"
	}
	list, ok := zones[cred]
	if !ok {
		return ZoneOwner{}, fmt.Sprintf("credential %q is not configured", cred)
	}
	z, ok := cfapi.ZoneFor(list, name)
	if !ok {
		return ZoneOwner{}, fmt.Sprintf("no zone visible to credential %q contains this hostname", cred)
	}
	if why, ok := lost[z.ID]; ok {
		return ZoneOwner{}, why
	}
	o, ok := owners[z.ID]
	if !ok { // cannot happen: every listed zone is owned or lost
		return ZoneOwner{}, fmt.Sprintf("zone %s has no credential", z.Name)
	}
	return o, ""
}
