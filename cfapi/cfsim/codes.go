package cfsim

import "net/http"

// apiError is one Cloudflare error answer: HTTP status, code and message.
type apiError struct {
	Status  int
	Code    int
	Message string
	// Chain is Cloudflare's error_chain (e.g. 6003 → 6111).
	Chain []apiError
}

func (e apiError) withMessage(msg string) apiError {
	e.Message = msg
	return e
}

// Every error code the simulator answers with, in ONE table, with where the
// code/message/status triple was seen. "verified" = copied from a real
// Cloudflare answer quoted in a public issue; "unverified" = the simulator's
// own choice where no real answer could be found (status chosen to match the
// documented behaviour, code picked in Cloudflare's range for that product).
//
//	code   status       message                                        source
//	-----  -----------  ---------------------------------------------  -------------------------------------------------------------
//	9106   400          Missing X-Auth-Key, X-Auth-Email or            unverified (commonly reported wording; no quoted answer found)
//	                    Authorization headers
//	6003   400          Invalid request headers (chain 6111)           verified: kissgyorgy/cloudflare-dyndns#40, putyourlightson/craft-cloudflare#88
//	6111   400          Invalid format for Authorization header        verified: kissgyorgy/cloudflare-dyndns#40 (error_chain of 6003)
//	1000   401          Invalid API Token                              code+message verified (a GET /user/tokens/verify answer quoted in a
//	                                                                   public ops log); status 401 unverified
//	10000  403          Authentication error                           code: favonia/cloudflare-ddns#897 ("invalid token or insufficient
//	                                                                   permissions"); status 403 unverified
//	10000  200          This API Token is valid and active (message)   verified: putyourlightson/craft-cloudflare#88
//	10100  429          More than 1200 requests per 300 seconds        code: peers.md §5 (external-dns #5971); message verified:
//	                    reached. Please wait and consider throttling   lablabs/cloudflare-exporter#74, lfaoro/flares#24
//	                    your request speed.
//	7000   404          No route for that URI                          unverified (long-standing v4 answer for unknown paths)
//	7003   404          Could not route to …, perhaps your object      unverified (v4 answer for an unknown zone/account id; real status
//	                    identifier is invalid?                         may be 400)
//	81044  404          Record does not exist.                         verified: zanjie1999/cloudflare-api-v4-ddns#5
//	81053  400          An A, AAAA, or CNAME record with that host     verified: cloudflare/terraform-provider-cloudflare#1247 (400)
//	                    already exists.
//	81057  400          Record already exists.                         verified: aaPanel/aaPanel#112, jeessy2/ddns-go#1149 (400); the older
//	                                                                   wording of the identical-record rejection, listed for reference:
//	                                                                   the simulator answers 81058
//	81058  400          An identical record already exists.            verified: jeessy2/ddns-go#1378 (400, 2025); cisagov/manage.get.gov#5244
//	9000   400          DNS name is invalid.                           verified: timothymiller/cloudflare-ddns#91, cisagov/manage.get.gov#5244
//	9005   400          Content for A record must be a valid IPv4      verified: yulewang/cloudflare-api-v4-ddns#16, timothymiller/cloudflare-ddns#230
//	                    address.
//	9006   400          Content for AAAA record must be a valid IPv6   unverified (9005's sibling, same wording)
//	                    address.
//	9007   400          Content for CNAME record is invalid.           unverified (Cloudflare's 9005–9007 content range)
//	9021   400          Invalid TTL. Must be between 60 and 86400      code verified: NewFuture/DDNS#125, LINKIWI/cloudflare-ddns-client#30;
//	                    seconds, or 1 for Automatic.                   bounds are today's API schema (dns.TTL), wording adapted
//	9041   400          This record type cannot be proxied.            code verified: jordantrizz/cloudflare-cli#8 ("Invalid proxied
//	                                                                   mode. Record cannot be proxied")
//	9100   400          record data errors (MX priority, SRV name and  unverified
//	                    data, CAA flags/tag/value, TXT content, tags)
//	9101   400          Invalid DNS record type.                       unverified
//	9102   400          comment too long / with a line break           unverified; limits verified: cloudflare-docs plans (Free 100,
//	                                                                   paid 500, no \n or \r) via peers.md §5
//	9103   400          DNS record tags are not available on this      unverified; rule verified: peers.md §5 (tags: paid plans only)
//	                    zone's plan.
//	81000  400          Batch request exceeds the maximum number of    unverified; caps verified: peers.md §5 (Free 200, paid 3,500)
//	                    operations.
//	1056   400          Validation failed: <cloudflared message>       message verified: cloudflare/terraform-provider-cloudflare#2327
//	                                                                   ("Bad Configuration: Validation failed: The last ingress rule …")
//	                                                                   and a public client matching "^Validation failed: … is an
//	                                                                   invalid address"; code 1056 quoted for the same rejection in a
//	                                                                   public project changelog; status 400 unverified
//	1003   404          Tunnel not found                               unverified
//	12130  400/404/409  access.api.error.<kind>: …                     message namespace verified (access.api.error.not_found,
//	                                                                   .conflict, .not_enabled seen in public client code); code and
//	                                                                   statuses unverified
//	10001  400          Malformed JSON in request body                 unverified
//	10002  500 (or set) Internal server error (injected fault)         simulator fault injection
var (
	errMissingAuth       = apiError{Status: http.StatusBadRequest, Code: 9106, Message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers"}
	errBadAuthHeader     = apiError{Status: http.StatusBadRequest, Code: 6003, Message: "Invalid request headers", Chain: []apiError{{Code: 6111, Message: "Invalid format for Authorization header"}}}
	errInvalidToken      = apiError{Status: http.StatusUnauthorized, Code: 1000, Message: "Invalid API Token"}
	errAuthentication    = apiError{Status: http.StatusForbidden, Code: 10000, Message: "Authentication error"}
	errRateLimited       = apiError{Status: http.StatusTooManyRequests, Code: 10100, Message: "More than 1200 requests per 300 seconds reached. Please wait and consider throttling your request speed."}
	errNoRoute           = apiError{Status: http.StatusNotFound, Code: 7000, Message: "No route for that URI"}
	errBadObjectID       = apiError{Status: http.StatusNotFound, Code: 7003, Message: "Could not route to the requested object, perhaps your object identifier is invalid?"}
	errRecordNotFound    = apiError{Status: http.StatusNotFound, Code: 81044, Message: "Record does not exist."}
	errHostExists        = apiError{Status: http.StatusBadRequest, Code: 81053, Message: "An A, AAAA, or CNAME record with that host already exists."}
	errIdenticalRecord   = apiError{Status: http.StatusBadRequest, Code: 81058, Message: "An identical record already exists."}
	errBadName           = apiError{Status: http.StatusBadRequest, Code: 9000, Message: "DNS name is invalid."}
	errBadA              = apiError{Status: http.StatusBadRequest, Code: 9005, Message: "Content for A record must be a valid IPv4 address."}
	errBadAAAA           = apiError{Status: http.StatusBadRequest, Code: 9006, Message: "Content for AAAA record must be a valid IPv6 address."}
	errBadCNAME          = apiError{Status: http.StatusBadRequest, Code: 9007, Message: "Content for CNAME record is invalid."}
	errBadTTL            = apiError{Status: http.StatusBadRequest, Code: 9021, Message: "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."}
	errNotProxiable      = apiError{Status: http.StatusBadRequest, Code: 9041, Message: "This record type cannot be proxied."}
	errBadRecordData     = apiError{Status: http.StatusBadRequest, Code: 9100, Message: "Invalid record data."}
	errBadType           = apiError{Status: http.StatusBadRequest, Code: 9101, Message: "Invalid DNS record type."}
	errBadComment        = apiError{Status: http.StatusBadRequest, Code: 9102, Message: "Invalid comment."}
	errTagsNotAllowed    = apiError{Status: http.StatusBadRequest, Code: 9103, Message: "DNS record tags are not available on this zone's plan."}
	errBatchTooLarge     = apiError{Status: http.StatusBadRequest, Code: 81000, Message: "Batch request exceeds the maximum number of operations."}
	errTunnelConfig      = apiError{Status: http.StatusBadRequest, Code: 1056, Message: "Validation failed"}
	errTunnelNotFound    = apiError{Status: http.StatusNotFound, Code: 1003, Message: "Tunnel not found"}
	errAccessNotFound    = apiError{Status: http.StatusNotFound, Code: 12130, Message: "access.api.error.not_found"}
	errAccessInvalid     = apiError{Status: http.StatusBadRequest, Code: 12130, Message: "access.api.error.invalid_request"}
	errAccessConflict    = apiError{Status: http.StatusConflict, Code: 12130, Message: "access.api.error.conflict"}
	errMalformedJSON     = apiError{Status: http.StatusBadRequest, Code: 10001, Message: "Malformed JSON in request body"}
	errInjectedServerErr = apiError{Status: http.StatusInternalServerError, Code: 10002, Message: "Internal server error"}
)
