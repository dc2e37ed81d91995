// Package cfapi is the Cloudflare boundary: narrow interfaces for zones, DNS
// records, tunnels, Access and token verification, implemented over
// cloudflare-go v7. No SDK type leaks out of this package.
//
// It never retries and never rate-limits: that policy belongs to the
// cloudflare actor.
package cfapi
