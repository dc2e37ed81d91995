// Package publicip discovers this host's public IPv4 and IPv6 addresses, the
// content of DNS records whose target is `auto`.
//
// It asks several HTTP sources per address family (forcing the family at
// dial time, so a dual-stack source answers for each), accepts only a global
// unicast address of the right family, and needs two sources to agree when
// more than one answers: one confused source cannot repoint records. It
// never caches and never logs; the caller decides how often to ask.
package publicip
