package cfapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/zero_trust"
)

// Access applications: the SDK returns a different (union) struct per method
// with the same JSON, so every answer is decoded from its raw JSON into one
// wire shape. Requests use the SDK's self-hosted param types.

type appWire struct {
	ID                     string          `json:"id"`
	AUD                    string          `json:"aud"`
	Name                   string          `json:"name"`
	Domain                 string          `json:"domain"`
	Type                   string          `json:"type"`
	SessionDuration        string          `json:"session_duration"`
	Policies               []appPolicyWire `json:"policies"`
	AllowedIdPs            []string        `json:"allowed_idps"`
	AutoRedirectToIdentity bool            `json:"auto_redirect_to_identity"`
	AppLauncherVisible     bool            `json:"app_launcher_visible"`
	Tags                   []string        `json:"tags"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
}

type appPolicyWire struct {
	ID         string `json:"id"`
	Precedence int    `json:"precedence"`
}

func decodeApp(raw string) (AccessApp, error) {
	var w appWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return AccessApp{}, err
	}
	a := AccessApp{
		ID: w.ID, AUD: w.AUD, Name: w.Name, Domain: w.Domain, Type: w.Type,
		SessionDuration: w.SessionDuration, AllowedIdPs: w.AllowedIdPs,
		AutoRedirectToIdentity: w.AutoRedirectToIdentity, AppLauncherVisible: w.AppLauncherVisible,
		Tags: w.Tags, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
	for _, p := range w.Policies {
		a.Policies = append(a.Policies, AppPolicy(p))
	}
	return a, nil
}

func decodeErr(op string, err error) error {
	return &Error{Op: op, Kind: ErrTransient, Err: fmt.Errorf("decoding response: %w", err)}
}

// ListAccessApps lists the account's Access applications, all pages.
func (c *Client) ListAccessApps(ctx context.Context) ([]AccessApp, error) {
	const op = "list access applications"
	if err := c.needAccount(op); err != nil {
		return nil, err
	}
	return pageAll(ctx, c, op, perPageAccess,
		func(ctx context.Context, page int, opts ...option.RequestOption) ([]AccessApp, string, error) {
			var p zero_trust.AccessApplicationListParams
			p.AccountID.Value, p.AccountID.Present = c.accountID, true
			p.Page.Value, p.Page.Present = int64(page), true
			p.PerPage.Value, p.PerPage.Present = perPageAccess, true
			res, err := c.apps.List(ctx, p, opts...)
			if err != nil {
				return nil, "", err
			}
			out := make([]AccessApp, 0, len(res.Result))
			for _, r := range res.Result {
				a, err := decodeApp(r.JSON.RawJSON())
				if err != nil {
					return nil, "", err
				}
				out = append(out, a)
			}
			return out, res.ResultInfo.JSON.RawJSON(), nil
		})
}

// GetAccessApp reads one application.
func (c *Client) GetAccessApp(ctx context.Context, appID string) (AccessApp, error) {
	const op = "get access application"
	if err := firstErr(c.needAccount(op), checkID(op, "application id", appID)); err != nil {
		return AccessApp{}, err
	}
	var out AccessApp
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.AccessApplicationGetParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.apps.Get(ctx, appID, p, opts...)
		if err != nil {
			return err
		}
		if out, err = decodeApp(res.JSON.RawJSON()); err != nil {
			return decodeErr(op, err)
		}
		return nil
	})
	return out, err
}

// CreateAccessApp creates a self-hosted application.
func (c *Client) CreateAccessApp(ctx context.Context, app AccessApp) (AccessApp, error) {
	const op = "create access application"
	if err := c.needAccount(op); err != nil {
		return AccessApp{}, err
	}
	var out AccessApp
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var body zero_trust.AccessApplicationNewParamsBodySelfHostedApplication
		body.Type.Value, body.Type.Present = zero_trust.ApplicationTypeSelfHosted, true
		body.Name.Value, body.Name.Present = app.Name, true
		body.Domain.Value, body.Domain.Present = app.Domain, true
		if app.SessionDuration != "" {
			body.SessionDuration.Value, body.SessionDuration.Present = app.SessionDuration, true
		}
		pols := make([]zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPolicyUnion, 0, len(app.Policies))
		for _, ap := range app.Policies {
			var l zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPoliciesAccessAppPolicyLink
			l.ID.Value, l.ID.Present = ap.ID, true
			l.Precedence.Value, l.Precedence.Present = int64(ap.Precedence), true
			pols = append(pols, l)
		}
		body.Policies.Value, body.Policies.Present = pols, true
		if app.AllowedIdPs != nil {
			body.AllowedIdPs.Value, body.AllowedIdPs.Present = app.AllowedIdPs, true
		}
		body.AutoRedirectToIdentity.Value, body.AutoRedirectToIdentity.Present = app.AutoRedirectToIdentity, true
		body.AppLauncherVisible.Value, body.AppLauncherVisible.Present = app.AppLauncherVisible, true
		if app.Tags != nil {
			body.Tags.Value, body.Tags.Present = app.Tags, true
		}
		p := zero_trust.AccessApplicationNewParams{Body: body}
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.apps.New(ctx, p, opts...)
		if err != nil {
			return err
		}
		if out, err = decodeApp(res.JSON.RawJSON()); err != nil {
			return decodeErr(op, err)
		}
		return nil
	})
	return out, err
}

// UpdateAccessApp replaces the application app.ID with app (PUT).
func (c *Client) UpdateAccessApp(ctx context.Context, app AccessApp) (AccessApp, error) {
	const op = "update access application"
	if err := firstErr(c.needAccount(op), checkID(op, "application id", app.ID)); err != nil {
		return AccessApp{}, err
	}
	var out AccessApp
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var body zero_trust.AccessApplicationUpdateParamsBodySelfHostedApplication
		body.Type.Value, body.Type.Present = zero_trust.ApplicationTypeSelfHosted, true
		body.Name.Value, body.Name.Present = app.Name, true
		body.Domain.Value, body.Domain.Present = app.Domain, true
		if app.SessionDuration != "" {
			body.SessionDuration.Value, body.SessionDuration.Present = app.SessionDuration, true
		}
		pols := make([]zero_trust.AccessApplicationUpdateParamsBodySelfHostedApplicationPolicyUnion, 0, len(app.Policies))
		for _, ap := range app.Policies {
			var l zero_trust.AccessApplicationUpdateParamsBodySelfHostedApplicationPoliciesAccessAppPolicyLink
			l.ID.Value, l.ID.Present = ap.ID, true
			l.Precedence.Value, l.Precedence.Present = int64(ap.Precedence), true
			pols = append(pols, l)
		}
		body.Policies.Value, body.Policies.Present = pols, true
		if app.AllowedIdPs != nil {
			body.AllowedIdPs.Value, body.AllowedIdPs.Present = app.AllowedIdPs, true
		}
		body.AutoRedirectToIdentity.Value, body.AutoRedirectToIdentity.Present = app.AutoRedirectToIdentity, true
		body.AppLauncherVisible.Value, body.AppLauncherVisible.Present = app.AppLauncherVisible, true
		if app.Tags != nil {
			body.Tags.Value, body.Tags.Present = app.Tags, true
		}
		p := zero_trust.AccessApplicationUpdateParams{Body: body}
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.apps.Update(ctx, app.ID, p, opts...)
		if err != nil {
			return err
		}
		if out, err = decodeApp(res.JSON.RawJSON()); err != nil {
			return decodeErr(op, err)
		}
		return nil
	})
	return out, err
}

// DeleteAccessApp deletes one application.
func (c *Client) DeleteAccessApp(ctx context.Context, appID string) error {
	const op = "delete access application"
	if err := firstErr(c.needAccount(op), checkID(op, "application id", appID)); err != nil {
		return err
	}
	return c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.AccessApplicationDeleteParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		_, err := c.apps.Delete(ctx, appID, p, opts...)
		return err
	})
}

// Reusable policies.

type policyWire struct {
	ID              string                  `json:"id"`
	Name            string                  `json:"name"`
	Decision        string                  `json:"decision"`
	Include         []zero_trust.AccessRule `json:"include"`
	Require         []zero_trust.AccessRule `json:"require"`
	Exclude         []zero_trust.AccessRule `json:"exclude"`
	SessionDuration string                  `json:"session_duration"`
	AppCount        int                     `json:"app_count"`
	Reusable        bool                    `json:"reusable"`
	CreatedAt       time.Time               `json:"created_at"`
	UpdatedAt       time.Time               `json:"updated_at"`
}

func decodePolicy(raw string) (AccessPolicy, error) {
	var w policyWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return AccessPolicy{}, err
	}
	p := AccessPolicy{
		ID: w.ID, Name: w.Name, Decision: w.Decision, SessionDuration: w.SessionDuration,
		AppCount: w.AppCount, Reusable: w.Reusable, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
	p.Include = rulesFromSDK(w.Include)
	p.Require = rulesFromSDK(w.Require)
	p.Exclude = rulesFromSDK(w.Exclude)
	return p, nil
}

// ListAccessPolicies lists the account's reusable policies, all pages.
func (c *Client) ListAccessPolicies(ctx context.Context) ([]AccessPolicy, error) {
	const op = "list access policies"
	if err := c.needAccount(op); err != nil {
		return nil, err
	}
	return pageAll(ctx, c, op, perPageAccess,
		func(ctx context.Context, page int, opts ...option.RequestOption) ([]AccessPolicy, string, error) {
			var p zero_trust.AccessPolicyListParams
			p.AccountID.Value, p.AccountID.Present = c.accountID, true
			p.Page.Value, p.Page.Present = int64(page), true
			p.PerPage.Value, p.PerPage.Present = perPageAccess, true
			res, err := c.policies.List(ctx, p, opts...)
			if err != nil {
				return nil, "", err
			}
			out := make([]AccessPolicy, 0, len(res.Result))
			for _, r := range res.Result {
				pol, err := decodePolicy(r.JSON.RawJSON())
				if err != nil {
					return nil, "", err
				}
				out = append(out, pol)
			}
			return out, res.ResultInfo.JSON.RawJSON(), nil
		})
}

// GetAccessPolicy reads one reusable policy.
func (c *Client) GetAccessPolicy(ctx context.Context, policyID string) (AccessPolicy, error) {
	const op = "get access policy"
	if err := firstErr(c.needAccount(op), checkID(op, "policy id", policyID)); err != nil {
		return AccessPolicy{}, err
	}
	var out AccessPolicy
	err := c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.AccessPolicyGetParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		res, err := c.policies.Get(ctx, policyID, p, opts...)
		if err != nil {
			return err
		}
		if out, err = decodePolicy(res.JSON.RawJSON()); err != nil {
			return decodeErr(op, err)
		}
		return nil
	})
	return out, err
}

// CreateAccessPolicy creates a reusable policy.
func (c *Client) CreateAccessPolicy(ctx context.Context, pol AccessPolicy) (AccessPolicy, error) {
	const op = "create access policy"
	if err := c.needAccount(op); err != nil {
		return AccessPolicy{}, err
	}
	inc, req, exc, err := policyRules(op, pol)
	if err != nil {
		return AccessPolicy{}, err
	}
	var out AccessPolicy
	err = c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.AccessPolicyNewParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		p.Name.Value, p.Name.Present = pol.Name, true
		p.Decision.Value, p.Decision.Present = zero_trust.Decision(pol.Decision), true
		p.Include.Value, p.Include.Present = inc, true
		p.Require.Value, p.Require.Present = req, true
		p.Exclude.Value, p.Exclude.Present = exc, true
		if pol.SessionDuration != "" {
			p.SessionDuration.Value, p.SessionDuration.Present = pol.SessionDuration, true
		}
		res, err := c.policies.New(ctx, p, opts...)
		if err != nil {
			return err
		}
		if out, err = decodePolicy(res.JSON.RawJSON()); err != nil {
			return decodeErr(op, err)
		}
		return nil
	})
	return out, err
}

// UpdateAccessPolicy replaces the reusable policy pol.ID with pol (PUT).
func (c *Client) UpdateAccessPolicy(ctx context.Context, pol AccessPolicy) (AccessPolicy, error) {
	const op = "update access policy"
	if err := firstErr(c.needAccount(op), checkID(op, "policy id", pol.ID)); err != nil {
		return AccessPolicy{}, err
	}
	inc, req, exc, err := policyRules(op, pol)
	if err != nil {
		return AccessPolicy{}, err
	}
	var out AccessPolicy
	err = c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.AccessPolicyUpdateParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		p.Name.Value, p.Name.Present = pol.Name, true
		p.Decision.Value, p.Decision.Present = zero_trust.Decision(pol.Decision), true
		p.Include.Value, p.Include.Present = inc, true
		p.Require.Value, p.Require.Present = req, true
		p.Exclude.Value, p.Exclude.Present = exc, true
		if pol.SessionDuration != "" {
			p.SessionDuration.Value, p.SessionDuration.Present = pol.SessionDuration, true
		}
		res, err := c.policies.Update(ctx, pol.ID, p, opts...)
		if err != nil {
			return err
		}
		if out, err = decodePolicy(res.JSON.RawJSON()); err != nil {
			return decodeErr(op, err)
		}
		return nil
	})
	return out, err
}

// DeleteAccessPolicy deletes a reusable policy. Cloudflare refuses while an
// application still uses it (ErrConflict).
func (c *Client) DeleteAccessPolicy(ctx context.Context, policyID string) error {
	const op = "delete access policy"
	if err := firstErr(c.needAccount(op), checkID(op, "policy id", policyID)); err != nil {
		return err
	}
	return c.call(ctx, op, func(ctx context.Context, opts ...option.RequestOption) error {
		var p zero_trust.AccessPolicyDeleteParams
		p.AccountID.Value, p.AccountID.Present = c.accountID, true
		_, err := c.policies.Delete(ctx, policyID, p, opts...)
		return err
	})
}

func policyRules(op string, pol AccessPolicy) (inc, req, exc []zero_trust.AccessRuleUnionParam, err error) {
	if inc, err = rulesToSDK(pol.Include); err != nil {
		return nil, nil, nil, argError(op, "include: %v", err)
	}
	if req, err = rulesToSDK(pol.Require); err != nil {
		return nil, nil, nil, argError(op, "require: %v", err)
	}
	if exc, err = rulesToSDK(pol.Exclude); err != nil {
		return nil, nil, nil, argError(op, "exclude: %v", err)
	}
	return inc, req, exc, nil
}
