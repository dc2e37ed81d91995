// Package cfsim is an in-memory Cloudflare API: the fake that cfapi's tests,
// the actors' tests, the benchmarks and the demo talk to through the real
// cloudflare-go SDK. Nothing on Labelgate's machines can reach Cloudflare, so
// every claim about Cloudflare behaviour is only as true as this package.
//
// # What it owns
//
//   - The v4 envelope ({success, errors[{code,message}], messages, result,
//     result_info{page,per_page,count,total_count,total_pages}}) and paging by
//     page/per_page with each endpoint's documented maximum (limits.go).
//   - The endpoints Labelgate uses, at the paths cloudflare-go v7.9.0 calls
//     (Endpoints lists them; routes.go names the SDK files): token verify
//     (user and account), zones, DNS records incl. filters and the batch
//     endpoint, cfd_tunnel list/get, configurations GET/PUT and connections
//     GET, Access applications and reusable policies.
//   - Tunnel connectors (connectors.go): the cloudflared processes of a
//     tunnel with their connections, in Cloudflare's shapes (the tunnel
//     GET's status, connections, conns_active_at/conns_inactive_at; the
//     connections endpoint's clients with conns). The status follows them
//     as Cloudflare's does (healthy with an active connection, down after
//     losing the last, inactive when never connected) unless set
//     explicitly (degraded). AddTunnel gives a healthy tunnel one
//     simulated connector; tests change them with SetTunnelConnectors or
//     the admin endpoint.
//   - Cloudflare's rejections, each with the error code, status, message
//     and error_chain (the 1004 "DNS Validation Error" wrapper of some
//     record rejections) of the one table in codes.go, which names the
//     public evidence of every answer or marks it as having none, and
//     cloudflared's ingress validation (tunnels.go, same wording).
//   - Bearer-token authentication; a read-only token gets 403 on writes.
//   - The rate limit: a sliding window per token (default 1,200 / 300 s);
//     the request over it locks the token out for Lockout (default the
//     window) with 429 and Retry-After. The clock is injectable (WithClock).
//   - Fault injection (Faults): 5xx (by share or the next N), latency,
//     dropped connections (hijack and close), 429 storms (for a duration or N
//     requests), optionally limited to a path prefix.
//   - An audit log of every API request (time, method, path, query, status,
//     body size, token name, object ids written, foreign flag, fault).
//   - Foreign objects: anything seeded (Go methods with Foreign set, the
//     admin seed endpoint, the YAML seed file) is "someone else's";
//     ForeignWrites lists every successful write that touched one.
//
// # Admin endpoints
//
// Under /__cfsim/ (a prefix the real API does not use); no token, no rate
// limit, no faults, no audit entries:
//
//	GET    /__cfsim/state            everything stored (StateDump)
//	GET    /__cfsim/audit            the audit log; DELETE empties it
//	GET    /__cfsim/faults           faults in force; PUT sets them (durations as "250ms")
//	POST   /__cfsim/seed             apply a YAML/JSON Seed (objects are foreign)
//	POST   /__cfsim/reset            forget all objects, audit, counters, faults
//	GET    /__cfsim/ratelimit        the budget; PUT {requests, window, lockout} sets it
//	POST   /__cfsim/ratelimit/reset  clear every token's counters and lockouts
//	GET    /__cfsim/endpoints        the API routes served
//	GET    /__cfsim/tunnel/route?tunnel=ID&host=H&path=P
//	                                 the service the tunnel sends a request to (RouteFor)
//	GET    /__cfsim/access/governing?host=H&path=P
//	                                 the Access application that governs a request (GoverningApp)
//	GET    /__cfsim/tunnels/{id or name}/connectors   a tunnel's status and connectors
//	PUT    /__cfsim/tunnels/{id or name}/connectors   {"status": "", "connectors": [{client}]}
//	                                  replaces them (status "" follows the connections)
//	DELETE /__cfsim/tunnels/{id or name}/connectors   every connector gone (down, or inactive)
//
// Every path also answers under /client/v4, so a base URL ending in
// /client/v4 works as it does against Cloudflare.
//
// # What it never does
//
// It never calls out to the network, never persists anything, and does not
// simulate Cloudflare features Labelgate does not use (global API keys,
// zone settings, tunnel creation, Access groups, …): unknown paths get
// 400 code 7000, as Cloudflare answers them. Where Cloudflare's exact code
// for a rejection could not be found, codes.go says so instead of
// pretending.
//
// # Concurrency
//
// A Server is safe for concurrent use. Each API request is handled whole
// under one mutex, so requests are applied in a single total order and a DNS
// batch is all-or-nothing as seen by every other request. Injected latency is
// waited out before the mutex is taken, so slow requests do not serialise
// others. Go accessors return copies.
package cfsim
