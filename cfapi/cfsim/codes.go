package cfsim

import (
	"fmt"
	"net/http"
)

// apiError is one Cloudflare error answer: HTTP status, code and message.
type apiError struct {
	Status  int
	Code    int
	Message string
	// Chain is Cloudflare's error_chain (e.g. 6003 → 6111, 1004 → 9007).
	Chain []apiError
}

func (e apiError) withMessage(msg string) apiError {
	e.Message = msg
	return e
}

// dnsValidation wraps a record rejection the way Cloudflare does for some
// of them: 1004 "DNS Validation Error" with the specific code in error_chain.
func dnsValidation(e apiError) apiError {
	return apiError{Status: http.StatusBadRequest, Code: errDNSValidation.Code, Message: errDNSValidation.Message,
		Chain: []apiError{{Code: e.Code, Message: e.Message}}}
}

// wrappedOnCreate are the record rejections Cloudflare wraps in 1004 when a
// record is created (POST, a batch's posts) but, as far as the evidence
// goes, not when one is changed. 9004 and 9300 are wrapped always.
var wrappedOnCreate = map[int]bool{9007: true, 9021: true, 9313: true}

// Every error code the simulator answers with, in ONE table. The evidence
// column names the public error body (an issue or thread, as collected in
// the shared reference "Cloudflare API error answers") that the answer
// copies; "no evidence" marks the simulator's own choice where no real
// answer was found. cfapi must not depend on those: it classifies them by
// the HTTP status alone (cfapi/errors.go).
//
//	situation                        answer (status, code, message)                                evidence
//	-------------------------------  ------------------------------------------------------------  -------------------------------------------------
//	no auth headers                  400 9106 Missing X-Auth-Key, X-Auth-Email or Authorization    cloudflare/cloudflare-python#2678
//	                                 headers
//	badly formed Bearer header       400 6003 Invalid request headers,                             jeessy2/ddns-go#81; kissgyorgy/cloudflare-dyndns#40
//	                                 chain 6111 Invalid format for Authorization header
//	unknown token, /user/tokens/     401 1000 Invalid API Token                                    code+message: sendmebits/ghostmail-ios#2; status
//	verify and the account verify                                                                  401 only in client mocks (favonia/cloudflare-ddns)
//	unknown token, other endpoints   403 9109 Invalid access token                                 home-assistant/addons#3243 (fixtures)
//	read-only token writing          403 10000 <METHOD> method not allowed for the api_token       code+message: fire1ce/DDNS-Cloudflare-Bash#3,
//	(token scope forbids the method)     authentication scheme                                     cloudflare-docs#23461; status 403 no evidence
//	token without the permission     403 10000 Authentication error                                cloudflare-docs#13405; terraform-provider-cloudflare#913
//	for the area (AddTokenWithout,
//	seed deny: zones/dns/tunnel/
//	access)
//	global API key headers (not      403 10000 Authentication error                                the same answer; these two situations: no evidence
//	simulated); account token on
//	/user/tokens/verify
//	verify success (a message)       200 10000 This API Token is valid and active                  putyourlightson/craft-cloudflare#88
//	rate limited                     429 10100 More than 1200 requests per 300 seconds reached.    octodns/octodns-cloudflare tests;
//	                                 Please wait and consider throttling your request speed        lablabs/cloudflare-exporter#74
//	unknown URI                      400 7000 No route for that URI                                terraform-provider-cloudflare#1097;
//	                                                                                               Jazee6/cloudflare-ai-web#52
//	bad zone/account/record id       404 7003 Could not route to /client/v4/<path>, perhaps your   gardener/external-dns-management#428;
//	(record id not 32 hex digits)    object identifier is invalid?                                 timothymiller/cloudflare-ddns#152 (404 since 2025)
//	record not found                 404 81044 Record does not exist.                              code+message: zanjie1999/cloudflare-api-v4-ddns#5;
//	                                                                                               status 404 no evidence
//	new CNAME where A/AAAA/CNAME     400 81053 An A, AAAA, or CNAME record with that host already  terraform-provider-cloudflare#1247; the same answer
//	exists (or any other type)       exists.                                                       beside other types (TXT, MX, …): no evidence
//	new A/AAAA where a CNAME exists  400 81054 A CNAME record with that host already exists.       code+message: favonia/cloudflare-ddns#990; status
//	(or any other type)                                                                            400 and other types (TXT, MX, …): no evidence
//	identical record                 400 81058 An identical record already exists.                 jeessy2/ddns-go#1378
//	invalid name                     400 9000 DNS name is invalid.                                 code+message: timothymiller/cloudflare-ddns#91;
//	                                                                                               status no evidence
//	bad A / AAAA content             400 9005 / 9006 Content for A/AAAA record must be a valid     timothymiller/cloudflare-ddns#230;
//	                                 IPv4/IPv6 address.                                            wherelse/cloudflare-ddns-script#15; status no evidence
//	bad CNAME content                400 1004 DNS Validation Error, chain 9007 Content for CNAME    wrapper+code on create: kubernetes-sigs/external-dns
//	                                 record is invalid. (create); 400 9007 unwrapped (update)      #2409; message and the update answer: no evidence
//	bad TTL                          400 1004 DNS Validation Error, chain 9021 TTL must be         timothymiller/cloudflare-ddns#179; NewFuture/DDNS#125
//	                                 between 60 and 86400 seconds, or 1 for Automatic. (create);   (30 on Enterprise and the unwrapped update answer:
//	                                 400 9021 unwrapped (update)                                   no evidence)
//	proxied on a type that cannot    400 1004 DNS Validation Error, chain 9004 This kind of        hashicorp/terraform#11991; external-dns#1428
//	be proxied                       record cannot be proxied
//	comment too long                 400 1004 DNS Validation Error, chain 9313 DNS record comment  STRRL/cloudflare-tunnel-ingress-controller#168;
//	                                 exceeds the maximum length of N characters. (create); 400     terraform-provider-cloudflare#2194; status no
//	                                 9313 unwrapped (update)                                       evidence
//	tags on the Free plan            400 1004 DNS Validation Error, chain 9300 DNS record has N     terraform-provider-cloudflare#3217; external-dns#3706;
//	                                 tags, exceeding the quota of 0.                               status no evidence
//	invalid tunnel configuration     400 1056 Bad Configuration: Validation failed: <cloudflared   terraform-provider-cloudflare#2327
//	                                 message> (or Bad Configuration: config is required)
//	Access object not found          404 12135 access.api.error.not_found                          weak (code comments naming 12135)
//	Access app with a domain         409 11010 access.api.error.application_already_exists         ChrispyBacon-dev/DockFlare#217
//	already used
//	malformed JSON body              400 6007 Malformed JSON in request body                       code+message: undefinedplayer/cloudflare-ddns#10;
//	                                                                                               cloudflare-docs#23816; status no evidence
//	tunnel not found                 404 1002 Tunnel not found                                     weak (one ops log)
//	record data (MX priority, SRV,   400 9100 <what is wrong>                                      no evidence
//	CAA, TXT, malformed tags)
//	invalid record type              400 9101 Invalid DNS record type "X".                         no evidence (the real 9101 means "algorithm is a
//	                                                                                               required data field"; Labelgate never sends an
//	                                                                                               unknown type)
//	comment not a string or with a   400 9102 <what is wrong>                                      no evidence
//	line break
//	batch too large                  400 81000 Batch request has N operations; the maximum is M.   no evidence
//	other Access validation          400 12130 access.api.error.invalid_request: <what>            no evidence
//	Access policy still in use       409 12130 access.api.error.conflict: <what>                   no evidence
//	injected fault                   500 (or set) 10002 Internal server error                      simulator fault injection, no evidence
var (
	errMissingAuth       = apiError{Status: http.StatusBadRequest, Code: 9106, Message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers"}
	errBadAuthHeader     = apiError{Status: http.StatusBadRequest, Code: 6003, Message: "Invalid request headers", Chain: []apiError{{Code: 6111, Message: "Invalid format for Authorization header"}}}
	errInvalidToken      = apiError{Status: http.StatusUnauthorized, Code: 1000, Message: "Invalid API Token"}
	errInvalidAccess     = apiError{Status: http.StatusForbidden, Code: 9109, Message: "Invalid access token"}
	errAuthentication    = apiError{Status: http.StatusForbidden, Code: 10000, Message: "Authentication error"}
	errRateLimited       = apiError{Status: http.StatusTooManyRequests, Code: 10100, Message: "More than 1200 requests per 300 seconds reached. Please wait and consider throttling your request speed"}
	errNoRoute           = apiError{Status: http.StatusBadRequest, Code: 7000, Message: "No route for that URI"}
	errBadObjectID       = apiError{Status: http.StatusNotFound, Code: 7003, Message: "Could not route to the requested object, perhaps your object identifier is invalid?"}
	errRecordNotFound    = apiError{Status: http.StatusNotFound, Code: 81044, Message: "Record does not exist."}
	errHostExists        = apiError{Status: http.StatusBadRequest, Code: 81053, Message: "An A, AAAA, or CNAME record with that host already exists."}
	errCNAMEExists       = apiError{Status: http.StatusBadRequest, Code: 81054, Message: "A CNAME record with that host already exists."}
	errIdenticalRecord   = apiError{Status: http.StatusBadRequest, Code: 81058, Message: "An identical record already exists."}
	errDNSValidation     = apiError{Status: http.StatusBadRequest, Code: 1004, Message: "DNS Validation Error"}
	errBadName           = apiError{Status: http.StatusBadRequest, Code: 9000, Message: "DNS name is invalid."}
	errBadA              = apiError{Status: http.StatusBadRequest, Code: 9005, Message: "Content for A record must be a valid IPv4 address."}
	errBadAAAA           = apiError{Status: http.StatusBadRequest, Code: 9006, Message: "Content for AAAA record must be a valid IPv6 address."}
	errBadCNAME          = apiError{Status: http.StatusBadRequest, Code: 9007, Message: "Content for CNAME record is invalid."}
	errBadTTL            = apiError{Status: http.StatusBadRequest, Code: 9021, Message: "TTL must be between 60 and 86400 seconds, or 1 for Automatic."}
	errNotProxiable      = apiError{Status: http.StatusBadRequest, Code: 9004, Message: "This kind of record cannot be proxied"}
	errCommentTooLong    = apiError{Status: http.StatusBadRequest, Code: 9313, Message: "DNS record comment exceeds the maximum length of 100 characters."}
	errTagsOverQuota     = apiError{Status: http.StatusBadRequest, Code: 9300, Message: "DNS record has 1 tags, exceeding the quota of 0."}
	errBadRecordData     = apiError{Status: http.StatusBadRequest, Code: 9100, Message: "Invalid record data."}
	errBadType           = apiError{Status: http.StatusBadRequest, Code: 9101, Message: "Invalid DNS record type."}
	errBadComment        = apiError{Status: http.StatusBadRequest, Code: 9102, Message: "Invalid comment."}
	errBatchTooLarge     = apiError{Status: http.StatusBadRequest, Code: 81000, Message: "Batch request exceeds the maximum number of operations."}
	errTunnelConfig      = apiError{Status: http.StatusBadRequest, Code: 1056, Message: "Bad Configuration: Validation failed"}
	errTunnelNotFound    = apiError{Status: http.StatusNotFound, Code: 1002, Message: "Tunnel not found"}
	errAccessNotFound    = apiError{Status: http.StatusNotFound, Code: 12135, Message: "access.api.error.not_found"}
	errAccessAppExists   = apiError{Status: http.StatusConflict, Code: 11010, Message: "access.api.error.application_already_exists"}
	errAccessInvalid     = apiError{Status: http.StatusBadRequest, Code: 12130, Message: "access.api.error.invalid_request"}
	errAccessConflict    = apiError{Status: http.StatusConflict, Code: 12130, Message: "access.api.error.conflict"}
	errMalformedJSON     = apiError{Status: http.StatusBadRequest, Code: 6007, Message: "Malformed JSON in request body"}
	errInjectedServerErr = apiError{Status: http.StatusInternalServerError, Code: 10002, Message: "Internal server error"}
)

// methodNotAllowed is Cloudflare's answer to a token whose scope does not
// allow the method (here: any write by a read-only token).
func methodNotAllowed(method string) apiError {
	return errAuthentication.withMessage(method + " method not allowed for the api_token authentication scheme")
}

// couldNotRoute is 7003 naming the requested path as Cloudflare does (with
// its /client/v4 prefix).
func couldNotRoute(path string) apiError {
	return errBadObjectID.withMessage("Could not route to " + apiPrefix + path + ", perhaps your object identifier is invalid?")
}

// ttlRange is 9021 with the zone's minimum.
func ttlRange(minTTL int) apiError {
	return errBadTTL.withMessage(fmt.Sprintf("TTL must be between %d and 86400 seconds, or 1 for Automatic.", minTTL))
}
