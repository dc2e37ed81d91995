package claims

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// record turns a DNS service into a record; addr gives the content of its
// target, or why it is not known yet.
func record(d labels.DNSService, addr func(labels.DNSService) (string, string)) Record {
	r := messages.DesiredRecord{
		Name: d.Hostname, Type: d.Type, Proxied: d.Proxied, TTL: d.TTL, Comment: d.Comment, Credential: d.Credential,
	}
	r.Content, r.Unresolved = addr(d)
	switch d.Type {
	case "MX":
		p := int(*d.Priority)
		r.Priority = &p
	case "SRV":
		r.SRV = &messages.SRV{Priority: int(*d.Priority), Weight: int(*d.Weight), Port: int(*d.Port), Target: d.Target.Value}
		r.Content = fmt.Sprintf("%d %d %s", *d.Weight, *d.Port, d.Target.Value)
	case "CAA":
		r.CAA = &messages.CAA{Flags: int(*d.Flags), Tag: d.Tag, Value: d.Target.Value}
		r.Content = fmt.Sprintf("%d %s %q", *d.Flags, d.Tag, d.Target.Value)
	}
	return Record{DesiredRecord: r}
}

// address resolves a record's target as main does: `auto` to the source's
// public IP, `container` to the container's address, anything else as
// written.
func address(d labels.DNSService, c messages.Container, source string, ips PublicIPs) (string, string) {
	switch d.Target.Kind {
	case labels.TargetAuto:
		ip := ips.V4
		if d.Type == "AAAA" {
			ip = ips.V6
		}
		if ip == "" {
			return "", fmt.Sprintf("the public %s address of %s is not known yet", family(d.Type), source)
		}
		return ip, ""
	case labels.TargetContainer:
		return containerIP(c, d.Target.Network, d.Type == "AAAA")
	}
	return d.Target.Value, ""
}

func family(recordType string) string {
	if recordType == "AAAA" {
		return "IPv6"
	}
	return "IPv4"
}

// containerIP picks the container's address deterministically: on the named
// network, else on the first network in name order that has an address of
// the wanted family.
func containerIP(c messages.Container, network string, v6 bool) (string, string) {
	nets := slices.Clone(c.Networks)
	slices.SortFunc(nets, func(a, b messages.Network) int { return cmp.Compare(a.Name, b.Name) })
	for _, n := range nets {
		if network != "" && n.Name != network {
			continue
		}
		ip := n.IPv4
		if v6 {
			ip = n.IPv6
		}
		if a, err := netip.ParseAddr(ip); err == nil {
			return a.String(), ""
		}
	}
	if network != "" {
		return "", fmt.Sprintf("%s has no %s address on network %s", c.Noun(), map[bool]string{false: "IPv4", true: "IPv6"}[v6], network)
	}
	return "", fmt.Sprintf("%s has no %s address on any network%s", c.Noun(), map[bool]string{false: "IPv4", true: "IPv6"}[v6], serviceHint(c))
}

// serviceHint explains why a Swarm service never has a container address.
func serviceHint(c messages.Container) string {
	if c.Kind == messages.KindService {
		return " (a service's virtual IPs are on overlay networks only the swarm reaches; give the record a public address or auto)"
	}
	return ""
}
