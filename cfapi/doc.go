// Package cfapi is Labelgate's Cloudflare boundary: narrow interfaces
// (Verifier, Zones, DNS, Tunnels, Access, and API for all of them) and one
// implementation, Client, over github.com/cloudflare/cloudflare-go/v7. No SDK
// type appears in its exported API.
//
// The interfaces hold exactly the calls the cloudflare actor makes: list
// zones and records, batch DNS changes, get and put a tunnel configuration,
// get a tunnel (its status) and list its connectors (the tunnel actor's
// connector health read), list, create, update and delete Access
// applications and policies, verify the token. Client has a few more
// methods (one record read, created, updated, edited or deleted at a time,
// ZoneForHostname, ListTunnels, GetAccessApp, GetAccessPolicy) that tests
// use to set up and check what Cloudflare holds; nothing in Labelgate calls
// them.
//
// # What it owns
//
//   - Building the SDK services with explicit options only: base URL, bearer
//     token, HTTP client, retries off. cloudflare.NewClient is never called,
//     so CLOUDFLARE_* environment variables change nothing.
//   - A deadline on every request (Config.Timeout unless the context's is
//     earlier); lists are paged to the end by hand, one request per page,
//     each under the caller's context, with the largest per_page the endpoint
//     allows.
//   - Typed errors: every failure is an *Error whose Kind is ErrNotFound,
//     ErrUnauthorized, ErrForbidden, ErrRateLimited (with RetryAfter),
//     ErrConflict, ErrValidation (with Cloudflare's codes and messages) or
//     ErrTransient; Retryable says which are worth retrying. A Cloudflare
//     code decides the kind only when public evidence shows what it means
//     (codeKinds; the error_chain of a 1004 wrapper is read too); any other
//     code is classified by the HTTP status (401, 403, 404, 409, 429,
//     408/5xx, other 4xx as validation).
//   - Round-tripping tunnel configurations: unknown top-level keys and every
//     key of every ingress rule survive GET → edit → PUT (the SDK's typed
//     structs would drop them), so foreign rules, the user's catch-all and
//     the global originRequest/warp-routing are written back verbatim.
//   - Zone lookup by the longest label-aligned suffix (ZoneFor, a pure
//     function the actors use on listed zones, and Client.ZoneForHostname).
//
// # What it never does
//
// It never retries, waits, rate-limits, caches or batches on its own: the
// cloudflare actor owns the request budget, Retry-After, coalescing and the
// split of DNS changes into batches of the zone's cap. It never decides
// ownership: callers must only pass objects Labelgate owns to write methods.
// It reads no environment variable (the config package reads
// LABELGATE_CLOUDFLARE_API_URL and passes Config.BaseURL).
//
// # Concurrency
//
// A Client is immutable after New and safe for concurrent use; each method
// call is independent. Ordering between calls is the caller's business
// (Cloudflare has no optimistic locking on tunnel configurations: exactly
// one writer per tunnel).
package cfapi
