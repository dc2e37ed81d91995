package cfapi

import (
	"context"
	"errors"
	"strings"

	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/zones"
)

// VerifyToken checks the token with GET /user/tokens/verify, or with
// /accounts/{id}/tokens/verify when an account id is configured and the user
// endpoint answers 401/403/404 (account-owned tokens cannot use the user one).
func (c *Client) VerifyToken(ctx context.Context) (TokenStatus, error) {
	const op = "verify token"
	var ts TokenStatus
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		res, err := c.userTok.Verify(ctx, opts...)
		if err == nil {
			ts = TokenStatus{ID: res.ID, Status: string(res.Status), ExpiresOn: res.ExpiresOn, NotBefore: res.NotBefore}
		}
		return err
	})
	if err == nil || c.accountID == "" {
		return ts, err
	}
	if !(errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound)) {
		return ts, err
	}
	acctErr := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p accounts.TokenVerifyParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.acctTok.Verify(ctx, p, opts...)
		if err == nil {
			ts = TokenStatus{ID: res.ID, Status: string(res.Status), ExpiresOn: res.ExpiresOn, NotBefore: res.NotBefore}
		}
		return err
	})
	if acctErr != nil {
		return TokenStatus{}, err // the user endpoint's answer is the more telling one
	}
	return ts, nil
}

// ListZones lists every zone the token can see, all pages.
func (c *Client) ListZones(ctx context.Context) ([]Zone, error) {
	return pageAll(ctx, c, "list zones", perPageZones,
		func(ctx context.Context, page int, opts ...option.RequestOption) ([]Zone, string, error) {
			var p zones.ZoneListParams
			p.Page.Value, p.Page.Present = float64(page), true
			p.PerPage.Value, p.PerPage.Present = perPageZones, true
			res, err := c.zones.List(ctx, p, opts...)
			if err != nil {
				return nil, "", err
			}
			out := make([]Zone, 0, len(res.Result))
			for _, z := range res.Result {
				out = append(out, Zone{
					ID: z.ID, Name: z.Name, AccountID: z.Account.ID, AccountName: z.Account.Name,
					Status: string(z.Status), Paused: z.Paused,
					// Deprecated for changing a zone's plan (the subscription
					// API does that); reading its name is what is wanted here.
					Plan: z.Plan.Name, //nolint:staticcheck // SA1019: see above
				})
			}
			return out, res.ResultInfo.JSON.RawJSON(), nil
		})
}

// ZoneForHostname lists the zones and returns the one whose name is the
// longest suffix of hostname (ErrNotFound when none is).
func (c *Client) ZoneForHostname(ctx context.Context, hostname string) (Zone, error) {
	all, err := c.ListZones(ctx)
	if err != nil {
		return Zone{}, err
	}
	z, ok := ZoneFor(all, hostname)
	if !ok {
		return Zone{}, &Error{Op: "find zone for " + hostname, Kind: ErrNotFound}
	}
	return z, nil
}

// ZoneFor returns the zone whose name is the longest label-aligned suffix of
// hostname: "a.b.example.com" belongs to "b.example.com" before
// "example.com", and never to "ample.com". Comparison ignores case and a
// trailing dot. A wildcard hostname ("*.example.com") belongs to the zone of
// its suffix.
func ZoneFor(all []Zone, hostname string) (Zone, bool) {
	h := normalizeName(hostname)
	var best Zone
	found := false
	for _, z := range all {
		n := normalizeName(z.Name)
		if n == "" {
			continue
		}
		if h != n && !strings.HasSuffix(h, "."+n) {
			continue
		}
		if !found || len(n) > len(normalizeName(best.Name)) {
			best, found = z, true
		}
	}
	return best, found
}

func normalizeName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}
