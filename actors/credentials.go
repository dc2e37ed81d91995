package actors

import "github.com/labelgate/labelgate/cfapi"

// ChildZone names the DNS actor's child for a zone reconciled with a
// credential. The zone's id and the credential make it unique: two zones of
// the same name (in two accounts) never collide, and a zone handed to
// another credential gets a fresh child while the old one stops.
func ChildZone(z cfapi.Zone, credential string) string {
	return "zone-" + z.Name + "-" + z.ID + "@" + credential
}
