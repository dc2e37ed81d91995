package cfapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/dns"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/user"
	"github.com/cloudflare/cloudflare-go/v7/zero_trust"
	"github.com/cloudflare/cloudflare-go/v7/zones"
)

// DefaultBaseURL is Cloudflare's v4 API.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4/"

// DefaultTimeout bounds every request whose context has no earlier deadline.
const DefaultTimeout = 30 * time.Second

// Page sizes: the largest per_page each list endpoint accepts (see the
// simulator's limits in cfsim/limits.go for the sources).
const (
	perPageZones    = 50
	perPageRecords  = 5000
	perPageTunnels  = 1000
	perPageAccess   = 1000
	maxPagesPerList = 10000 // guard against a server that ignores `page`
)

// Verifier checks the token.
type Verifier interface {
	VerifyToken(ctx context.Context) (TokenStatus, error)
}

// Zones lists the zones the token can see.
type Zones interface {
	ListZones(ctx context.Context) ([]Zone, error)
}

// DNS reads the records of one zone and writes them in batches.
type DNS interface {
	ListRecords(ctx context.Context, zoneID string, f RecordFilter) ([]Record, error)
	BatchRecords(ctx context.Context, zoneID string, b Batch) (BatchResult, error)
}

// Tunnels reads and replaces a tunnel's configuration, and reads the tunnel
// itself (its status) and its connectors.
type Tunnels interface {
	GetTunnelConfig(ctx context.Context, tunnelID string) (TunnelConfig, error)
	PutTunnelConfig(ctx context.Context, tunnelID string, cfg TunnelConfig) (TunnelConfig, error)
	GetTunnel(ctx context.Context, tunnelID string) (Tunnel, error)
	ListTunnelConnections(ctx context.Context, tunnelID string) ([]TunnelConnector, error)
}

// Access manages self-hosted Access applications and reusable policies.
type Access interface {
	ListAccessApps(ctx context.Context) ([]AccessApp, error)
	CreateAccessApp(ctx context.Context, app AccessApp) (AccessApp, error)
	UpdateAccessApp(ctx context.Context, app AccessApp) (AccessApp, error)
	DeleteAccessApp(ctx context.Context, appID string) error
	ListAccessPolicies(ctx context.Context) ([]AccessPolicy, error)
	CreateAccessPolicy(ctx context.Context, p AccessPolicy) (AccessPolicy, error)
	UpdateAccessPolicy(ctx context.Context, p AccessPolicy) (AccessPolicy, error)
	DeleteAccessPolicy(ctx context.Context, policyID string) error
}

// API is everything Labelgate asks of Cloudflare: the cloudflare actor's
// calls and nothing more. Client's other methods are for tests (see the
// package documentation).
type API interface {
	Verifier
	Zones
	DNS
	Tunnels
	Access
}

var _ API = (*Client)(nil)

// Config configures a Client. Nothing is read from the environment.
type Config struct {
	// BaseURL of the v4 API; DefaultBaseURL when empty. Tests point it at cfsim.
	BaseURL string
	// Token is the API token, sent as "Authorization: Bearer".
	Token string
	// AccountID is required by the tunnel and Access calls.
	AccountID string
	// HTTPClient to use; a client without its own timeout when nil.
	HTTPClient *http.Client
	// Timeout bounds each request (each page of a list) when the context
	// has no earlier deadline; DefaultTimeout when zero.
	Timeout time.Duration
}

// Client implements API over cloudflare-go v7. It is safe for concurrent use.
// It never retries (the SDK's retries are switched off) and keeps no state
// between calls besides its configuration.
type Client struct {
	accountID string
	timeout   time.Duration

	records  *dns.RecordService
	zones    *zones.ZoneService
	userTok  *user.TokenService
	acctTok  *accounts.TokenService
	tunnels  *zero_trust.TunnelCloudflaredService
	tunCfg   *zero_trust.TunnelCloudflaredConfigurationService
	tunConns *zero_trust.TunnelCloudflaredConnectionService
	apps     *zero_trust.AccessApplicationService
	policies *zero_trust.AccessPolicyService
}

// New builds a Client. It builds the SDK services directly instead of calling
// cloudflare.NewClient, whose defaults read CLOUDFLARE_API_KEY, _EMAIL,
// _BASE_URL, _API_USER_SERVICE_KEY and _CUSTOM_HEADERS from the environment
// (and whose root package links every one of the SDK's ~117 services).
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("cfapi: an API token is required")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cfapi: base URL %q is not an absolute http(s) URL", base)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts := []option.RequestOption{
		option.WithHTTPClient(hc),
		option.WithBaseURL(base),
		option.WithAPIToken(cfg.Token),
		option.WithMaxRetries(0),
		// Belt and braces: none of these can be set without NewClient, but
		// make sure no other credential ever rides along with the token.
		option.WithHeaderDel("X-Auth-Key"),
		option.WithHeaderDel("X-Auth-Email"),
		option.WithHeaderDel("X-Auth-User-Service-Key"),
	}
	return &Client{
		accountID: cfg.AccountID,
		timeout:   timeout,
		records:   dns.NewRecordService(opts...),
		zones:     zones.NewZoneService(opts...),
		userTok:   user.NewTokenService(opts...),
		acctTok:   accounts.NewTokenService(opts...),
		tunnels:   zero_trust.NewTunnelCloudflaredService(opts...),
		tunCfg:    zero_trust.NewTunnelCloudflaredConfigurationService(opts...),
		tunConns:  zero_trust.NewTunnelCloudflaredConnectionService(opts...),
		apps:      zero_trust.NewAccessApplicationService(opts...),
		policies:  zero_trust.NewAccessPolicyService(opts...),
	}, nil
}

// AccountID returns the configured account id.
func (c *Client) AccountID() string { return c.accountID }

// call runs one request under a deadline and classifies its error. The
// callback gets the context to use and the options to pass to the SDK.
func (c *Client) call(ctx context.Context, op string, fn func(ctx context.Context, opts ...option.RequestOption) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var res *http.Response
	err := fn(ctx, option.WithResponseInto(&res))
	if res != nil && res.Body != nil && err != nil {
		_ = res.Body.Close()
	}
	return classify(op, err, res)
}

// needAccount fails fast when a tunnel/Access call has no account id.
func (c *Client) needAccount(op string) error {
	if c.accountID == "" {
		return argError(op, "no account id configured")
	}
	return nil
}

// checkID rejects ids that would change the request path: the SDK formats
// path parameters without escaping them.
func checkID(op, what, id string) error {
	if id == "" {
		return argError(op, "%s is empty", what)
	}
	if strings.ContainsAny(id, "/?#%\\ \t\r\n") || id == "." || id == ".." {
		return argError(op, "%s %q is not a valid identifier", what, id)
	}
	return nil
}

// resultInfo is the part of result_info the SDK's page type does not model.
type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

func parseResultInfo(raw string) resultInfo {
	var ri resultInfo
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &ri)
	}
	return ri
}

// pageAll fetches page 1, 2, … until the last page, each page as its own
// request under its own deadline. The SDK's auto-pager is not used: it runs
// page 2+ under context.Background and always asks for one page too many.
func pageAll[T any](ctx context.Context, c *Client, op string, perPage int,
	fetch func(ctx context.Context, page int, opts ...option.RequestOption) ([]T, string, error)) ([]T, error) {
	var all []T
	for page := 1; ; page++ {
		if page > maxPagesPerList {
			return nil, &Error{Op: op, Kind: ErrTransient, Err: fmt.Errorf("more than %d pages; is the server ignoring `page`?", maxPagesPerList)}
		}
		var items []T
		var raw string
		err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
			var err error
			items, raw, err = fetch(ctx, page, opts...)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		ri := parseResultInfo(raw)
		if ri.Page != 0 && ri.Page != page {
			return nil, &Error{Op: op, Kind: ErrTransient, Err: fmt.Errorf("asked for page %d, got page %d", page, ri.Page)}
		}
		switch {
		case ri.TotalPages > 0:
			if page >= ri.TotalPages {
				return all, nil
			}
		case len(items) == 0:
			return all, nil
		default:
			size := perPage
			if ri.PerPage > 0 {
				size = ri.PerPage
			}
			if len(items) < size {
				return all, nil
			}
		}
	}
}
