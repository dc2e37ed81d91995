package cfapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/dns"
)

// Error kinds. Every error returned by a Client method that came from the API
// or the transport is an *Error whose Kind is one of these, so callers branch
// with errors.Is(err, cfapi.ErrNotFound) and read details with errors.As.
var (
	// ErrNotFound: the object (or the zone/account in its path) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the token is missing, malformed, unknown or expired.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token is valid but lacks the permission for this call.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: Cloudflare answered 429; Error.RetryAfter says how long
	// the token is locked out.
	ErrRateLimited = errors.New("rate limited")
	// ErrConflict: the object already exists, or another object prevents the
	// change (a CNAME beside other records, a policy still in use).
	ErrConflict = errors.New("conflict")
	// ErrValidation: Cloudflare rejected the request body or parameters;
	// Error.Codes and Error.Messages carry its reasons.
	ErrValidation = errors.New("validation failed")
	// ErrTransient: a 5xx, a timeout or a connection error. The same call may
	// succeed later.
	ErrTransient = errors.New("transient failure")
)

// Error is the typed error of every failed call.
type Error struct {
	// Kind is one of the Err* sentinels above.
	Kind error
	// Op names the call, e.g. "list dns records".
	Op string
	// Method and Path of the request, when one was sent.
	Method, Path string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Codes and Messages are Cloudflare's errors[].code and errors[].message
	// (including any error_chain entries), in order.
	Codes    []int
	Messages []string
	// RetryAfter is the Retry-After the server sent (429, sometimes 503).
	RetryAfter time.Duration
	// Err is the underlying transport or context error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.StatusCode)
		if e.Method != "" {
			fmt.Fprintf(&b, " %s %s", e.Method, e.Path)
		}
		b.WriteString(")")
	}
	for i := range e.Codes {
		fmt.Fprintf(&b, "; %d: %s", e.Codes[i], e.Messages[i])
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the transport or context error (e.g. context.DeadlineExceeded).
func (e *Error) Unwrap() error { return e.Err }

// HasCode reports whether Cloudflare returned the given error code.
func (e *Error) HasCode(code int) bool {
	for _, c := range e.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// Gone reports whether err says the object itself does not exist (so a
// delete of it has the outcome it wanted): not found, but not 7000 "No
// route for that URI", which says the endpoint is wrong, not the object.
func Gone(err error) bool {
	var e *Error
	return errors.Is(err, ErrNotFound) && !(errors.As(err, &e) && e.HasCode(7000))
}

// Retryable reports whether err is worth retrying later: rate limits and
// transient failures are; everything else needs a change first.
func Retryable(err error) bool {
	return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrTransient)
}

// RetryAfter returns the server's Retry-After carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Cloudflare error codes that decide the kind regardless of the HTTP status,
// each backed by public evidence of the real API's answer (cfsim/codes.go
// names it per situation). A code is here only when its meaning is known;
// every other code — the simulator's own choices (9100, 9101, 9102, 81000,
// 12130, 10002), the weakly evidenced 12135 (Access object not found) and
// 1002 (tunnel not found), 971, and any code Cloudflare adds later — is
// classified by the HTTP status alone (kindForStatus), so Labelgate's
// behaviour never rests on a code nobody has seen Cloudflare send.
//
// The 1004 "DNS Validation Error" wrapper is not listed: the specific code
// in its error_chain decides (classify reads the chain), and a chain of
// unknown codes falls back on the status (400: validation).
var codeKinds = map[int]error{
	// Authentication: the token is missing, malformed, unknown or revoked.
	1000:  ErrUnauthorized, // Invalid API Token (/user/tokens/verify)
	6003:  ErrUnauthorized, // Invalid request headers (chain 6111)
	6111:  ErrUnauthorized, // Invalid format for Authorization header
	9106:  ErrUnauthorized, // Missing X-Auth-Key, X-Auth-Email or Authorization headers
	9109:  ErrUnauthorized, // Invalid access token (403 on other endpoints)
	10001: ErrUnauthorized, // Unable to authenticate request (cfsim never sends it; its meaning: the reference's malformed-JSON row, undefinedplayer/cloudflare-ddns#10, cloudflare-docs#23816)
	// Permission: a valid token without the right (or the method) for the call.
	10000: ErrForbidden, // Authentication error; "PUT method not allowed for the api_token authentication scheme"
	// Routing and missing objects (7000 comes with 400, not 404).
	7000:  ErrNotFound, // No route for that URI
	7003:  ErrNotFound, // Could not route to …, perhaps your object identifier is invalid?
	81044: ErrNotFound, // Record does not exist.
	// Conflicts with existing objects (all answered 400 but 11010).
	81053: ErrConflict, // An A, AAAA, or CNAME record with that host already exists.
	81054: ErrConflict, // A CNAME record with that host already exists.
	81057: ErrConflict, // Record already exists. (older wording of 81058; cfsim never sends it; aaPanel#112, jeessy2/ddns-go#1149)
	81058: ErrConflict, // An identical record already exists.
	11010: ErrConflict, // access.api.error.application_already_exists (409)
	// The rate limit.
	10100: ErrRateLimited, // More than 1200 requests per 300 seconds reached.
	// Rejected requests (direct or in the error_chain of 1004).
	6007: ErrValidation, // Malformed JSON in request body
	9000: ErrValidation, // DNS name is invalid.
	9004: ErrValidation, // This kind of record cannot be proxied
	9005: ErrValidation, // Content for A record must be a valid IPv4 address.
	9006: ErrValidation, // Content for AAAA record must be a valid IPv6 address.
	9007: ErrValidation, // Content for CNAME record is invalid.
	9021: ErrValidation, // TTL must be between 60 and 86400 seconds, or 1 for Automatic.
	9300: ErrValidation, // DNS record has N tags, exceeding the quota of 0.
	9313: ErrValidation, // DNS record comment exceeds the maximum length of N characters.
	1056: ErrValidation, // Bad Configuration: Validation failed: … (tunnel configuration)
}

// kindForStatus maps an HTTP status to an error kind when no code decided
// it: 401 unauthorized, 403 forbidden, 404 not found, 409 conflict, 429
// rate limited, 408 and 5xx transient, any other status validation.
func kindForStatus(status int) error {
	switch {
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusRequestTimeout, status >= 500:
		return ErrTransient
	default:
		return ErrValidation
	}
}

// classify turns whatever the SDK returned into an *Error. res is the raw
// response captured with option.WithResponseInto (nil when none arrived).
func classify(op string, err error, res *http.Response) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; not a Cloudflare failure and not retryable.
		return fmt.Errorf("%s: %w", op, err)
	}
	e := &Error{Op: op}
	var apiErr *dns.Error // an alias of the SDK's internal apierror.Error
	switch {
	case errors.As(err, &apiErr):
		e.StatusCode = apiErr.StatusCode
		if apiErr.Request != nil {
			e.Method, e.Path = apiErr.Request.Method, apiErr.Request.URL.Path
		}
		for _, d := range apiErr.Errors {
			e.Codes = append(e.Codes, int(d.Code))
			e.Messages = append(e.Messages, d.Message)
		}
		if apiErr.Response != nil {
			e.RetryAfter = parseRetryAfter(apiErr.Response.Header.Get("Retry-After"), time.Now())
		}
		// error_chain entries (e.g. 6003 → 6111) live in the raw JSON only.
		e.addChain(apiErr.JSON.RawJSON())
	case res != nil && res.StatusCode >= 400:
		// A non-JSON error body (a proxy's HTML 502, an empty 429): the SDK
		// fails to decode it, but the status still says what happened.
		e.StatusCode = res.StatusCode
		if res.Request != nil {
			e.Method, e.Path = res.Request.Method, res.Request.URL.Path
		}
		e.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
		e.Err = err
	default:
		// No HTTP response: connection refused/reset, timeout, bad response.
		e.Kind = ErrTransient
		e.Err = err
		return e
	}
	for _, c := range e.Codes {
		if k, ok := codeKinds[c]; ok {
			e.Kind = k
			break
		}
	}
	if e.Kind == nil {
		e.Kind = kindForStatus(e.StatusCode)
	}
	return e
}

// addChain appends error_chain codes from the raw error envelope, which the
// SDK's typed ErrorData drops.
func (e *Error) addChain(raw string) {
	if raw == "" {
		return
	}
	var env struct {
		Errors []struct {
			Chain []struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error_chain"`
		} `json:"errors"`
	}
	if jsonUnmarshal([]byte(raw), &env) != nil {
		return
	}
	for _, er := range env.Errors {
		for _, c := range er.Chain {
			e.Codes = append(e.Codes, c.Code)
			e.Messages = append(e.Messages, c.Message)
		}
	}
}

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// argError reports a caller mistake found before any request was sent.
func argError(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrValidation, Err: fmt.Errorf(format, args...)}
}
