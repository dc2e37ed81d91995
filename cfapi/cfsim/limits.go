package cfsim

import "time"

// Limits the simulator enforces, with where each number comes from.
const (
	// Rate limit: 1,200 requests per 5 minutes per user/account token, and a
	// token over it is blocked for the next 5 minutes
	// (developers.cloudflare.com/fundamentals/api/reference/limits; peers.md §5).
	DefaultRateLimitRequests = 1200
	DefaultRateLimitWindow   = 300 * time.Second

	// DNS batch: at most 200 operations per call on Free zones, 3,500 on paid
	// plans (developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes;
	// peers.md §5). The simulator's cap is per server, default 200.
	DefaultBatchCap = 200

	// DNS record comments: 100 characters on Free, 500 on paid plans
	// (cloudflare-docs plans index, "DNS record comments"; peers.md §5).
	DefaultCommentMax = 100
	PaidCommentMax    = 500
)

// Page sizes per list endpoint: default and maximum per_page. A larger
// per_page is clamped to the maximum; result_info reports the size used.
type pageLimit struct{ def, max int }

var (
	// DNS records: default 100, up to 5,000 (API schema for
	// GET /zones/{id}/dns_records; external-dns --cloudflare-dns-records-per-page;
	// peers.md §5).
	pageRecords = pageLimit{def: 100, max: 5000}
	// Zones: default 20, max 50 (API schema for GET /zones; NewFuture/DDNS#324
	// hit the 50 cap).
	pageZones = pageLimit{def: 20, max: 50}
	// cfd_tunnel list: default 20, max 1,000 (API schema for
	// GET /accounts/{id}/cfd_tunnel). Unverified beyond the schema.
	pageTunnels = pageLimit{def: 20, max: 1000}
	// Access apps and reusable policies: the schema documents page/per_page
	// without a maximum; the simulator uses default 25, max 1,000 (unverified).
	pageAccess = pageLimit{def: 25, max: 1000}
)
