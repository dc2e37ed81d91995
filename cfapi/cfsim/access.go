package cfsim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

type policyLink struct {
	ID         string
	Precedence int
}

// policyLinks reads an app's stored "policies" (strings or {id, precedence}).
func policyLinks(v any) []policyLink {
	list, _ := v.([]any)
	var out []policyLink
	for i, item := range list {
		switch x := item.(type) {
		case string:
			out = append(out, policyLink{ID: x, Precedence: i + 1})
		case map[string]any:
			id, _ := x["id"].(string)
			prec := i + 1
			if n, ok := dataInt(x, "precedence", 0, 1<<31-1); ok {
				prec = n
			}
			out = append(out, policyLink{ID: id, Precedence: prec})
		}
	}
	return out
}

func accessFail(base apiError, format string, args ...any) apiError {
	return base.withMessage(base.Message + ": " + fmt.Sprintf(format, args...))
}

// validateApp checks an application document and normalises its policies.
func (s *Server) validateApp(doc map[string]any, selfID string) *apiError {
	fail := func(base apiError, format string, args ...any) *apiError {
		e := accessFail(base, format, args...)
		return &e
	}
	typ, _ := doc["type"].(string)
	if typ == "" {
		return fail(errAccessInvalid, "type is required")
	}
	domain, _ := doc["domain"].(string)
	if typ == "self_hosted" {
		host, _, _ := strings.Cut(domain, "/")
		if domain == "" || !validDNSName(normName(host), true) {
			return fail(errAccessInvalid, "self_hosted applications need a valid domain, got %q", domain)
		}
		for _, a := range s.st.apps {
			if a.ID != selfID && strings.EqualFold(a.Domain, domain) {
				e := errAccessAppExists
				return &e
			}
		}
	}
	if name, _ := doc["name"].(string); name == "" {
		doc["name"] = domain
	}
	if sd, ok := doc["session_duration"].(string); ok {
		if _, err := time.ParseDuration(sd); err != nil {
			return fail(errAccessInvalid, "session_duration %q is not a duration", sd)
		}
	} else {
		doc["session_duration"] = "24h"
	}
	links := policyLinks(doc["policies"])
	stored := make([]any, 0, len(links))
	for _, l := range links {
		if s.st.policy(l.ID) == nil {
			return fail(errAccessInvalid, "policy %q does not exist", l.ID)
		}
		stored = append(stored, map[string]any{"id": l.ID, "precedence": l.Precedence})
	}
	doc["policies"] = stored
	return nil
}

// appJSON is the answer shape: policies expanded to full policy objects.
func (s *Server) appJSON(a *AccessApp) map[string]any {
	out := make(map[string]any, len(a.Doc))
	for k, v := range a.Doc {
		out[k] = v
	}
	var pols []any
	for _, l := range policyLinks(a.Doc["policies"]) {
		p := s.st.policy(l.ID)
		if p == nil {
			continue
		}
		pj := s.policyJSON(p)
		pj["precedence"] = l.Precedence
		pols = append(pols, pj)
	}
	if pols == nil {
		pols = []any{}
	}
	out["policies"] = pols
	return out
}

func (s *Server) listApps(c *reqCtx, r *http.Request) {
	if !s.checkAccount(c, r) {
		return
	}
	out := make([]map[string]any, 0, len(s.st.apps))
	for _, a := range s.st.apps {
		if d := c.query.Get("domain"); d != "" && !strings.EqualFold(a.Domain, d) {
			continue
		}
		if n := c.query.Get("name"); n != "" && a.Name != n {
			continue
		}
		out = append(out, s.appJSON(a))
	}
	page, info := paginate(c, out, pageAccess)
	c.okWith(http.StatusOK, page, info, nil)
}

func (s *Server) appFor(c *reqCtx, r *http.Request) *AccessApp {
	if !s.checkAccount(c, r) {
		return nil
	}
	a := s.st.app(r.PathValue("id"))
	if a == nil {
		c.fail(errAccessNotFound)
	}
	return a
}

func (s *Server) getApp(c *reqCtx, r *http.Request) {
	if a := s.appFor(c, r); a != nil {
		c.ok(s.appJSON(a))
	}
}

// storeApp validates doc and saves it as app (new when app.ID is empty).
func (s *Server) storeApp(doc map[string]any, app *AccessApp) *apiError {
	if e := s.validateApp(doc, app.ID); e != nil {
		return e
	}
	now := s.now().UTC()
	if app.ID == "" {
		app.ID = newUUID()
		doc["aud"] = newID() + newID()
		doc["created_at"] = now
	} else {
		doc["aud"] = app.Doc["aud"]
		doc["created_at"] = app.Doc["created_at"]
	}
	doc["id"] = app.ID
	doc["updated_at"] = now
	app.Doc = doc
	app.Name, _ = doc["name"].(string)
	app.Domain, _ = doc["domain"].(string)
	app.Type, _ = doc["type"].(string)
	return nil
}

func (s *Server) createApp(c *reqCtx, r *http.Request) {
	if !s.checkAccount(c, r) {
		return
	}
	var doc map[string]any
	if !c.decode(&doc) {
		return
	}
	a := &AccessApp{}
	if e := s.storeApp(doc, a); e != nil {
		c.fail(*e)
		return
	}
	s.st.apps = append(s.st.apps, a)
	c.touch(a.ID, false)
	c.okWith(http.StatusCreated, s.appJSON(a), nil, nil)
}

func (s *Server) putApp(c *reqCtx, r *http.Request) {
	a := s.appFor(c, r)
	if a == nil {
		return
	}
	var doc map[string]any
	if !c.decode(&doc) {
		return
	}
	next := *a
	if e := s.storeApp(doc, &next); e != nil {
		c.fail(*e)
		return
	}
	*a = next
	c.touch(a.ID, a.Foreign)
	c.ok(s.appJSON(a))
}

func (s *Server) deleteApp(c *reqCtx, r *http.Request) {
	a := s.appFor(c, r)
	if a == nil {
		return
	}
	s.st.apps = slices.DeleteFunc(s.st.apps, func(x *AccessApp) bool { return x == a })
	c.touch(a.ID, a.Foreign)
	c.ok(map[string]any{"id": a.ID})
}

// Reusable policies.

var decisions = map[string]bool{"allow": true, "deny": true, "non_identity": true, "bypass": true}

// ruleSelectors lists every selector key the API accepts; the ones Labelgate
// uses have their argument checked.
var ruleSelectors = map[string]string{
	"email": "email", "email_domain": "domain", "ip": "ip", "geo": "country_code",
	"service_token": "token_id", "group": "id", "login_method": "id",
	"everyone": "", "any_valid_service_token": "", "certificate": "",
	"email_list": "", "common_name": "", "auth_method": "", "device_posture": "", "gsuite": "",
	"github-organization": "", "azureAD": "", "okta": "", "saml": "", "external_evaluation": "",
	"ip_list": "", "auth_context": "", "oidc": "", "linked_app_token": "", "user_risk_score": "",
	"cloudflare_account_member": "",
}

func validateRules(list string, v any, required bool) *apiError {
	fail := func(format string, args ...any) *apiError {
		e := accessFail(errAccessInvalid, "%s: %s", list, fmt.Sprintf(format, args...))
		return &e
	}
	if v == nil {
		if required {
			return fail("at least one rule is required")
		}
		return nil
	}
	rules, ok := v.([]any)
	if !ok {
		return fail("must be a list of rules")
	}
	if required && len(rules) == 0 {
		return fail("at least one rule is required")
	}
	for i, item := range rules {
		m, ok := item.(map[string]any)
		if !ok || len(m) != 1 {
			return fail("rule %d must be an object with exactly one selector", i)
		}
		for key, arg := range m {
			field, known := ruleSelectors[key]
			if !known {
				return fail("rule %d: unknown selector %q", i, key)
			}
			body, ok := arg.(map[string]any)
			if !ok {
				return fail("rule %d: %s must be an object", i, key)
			}
			if field == "" {
				continue
			}
			val, _ := body[field].(string)
			switch {
			case val == "":
				return fail("rule %d: %s.%s is required", i, key, field)
			case key == "email" && !strings.Contains(val, "@"):
				return fail("rule %d: %q is not an email address", i, val)
			case key == "ip" && net.ParseIP(val) == nil && !validCIDR(val):
				return fail("rule %d: %q is not an IP address or CIDR range", i, val)
			case key == "geo" && len(val) != 2:
				return fail("rule %d: %q is not a two-letter country code", i, val)
			}
		}
	}
	return nil
}

func validCIDR(s string) bool {
	_, _, err := net.ParseCIDR(s)
	return err == nil
}

func (s *Server) validatePolicy(doc map[string]any) *apiError {
	fail := func(format string, args ...any) *apiError {
		e := accessFail(errAccessInvalid, format, args...)
		return &e
	}
	if name, _ := doc["name"].(string); name == "" {
		return fail("name is required")
	}
	if d, _ := doc["decision"].(string); !decisions[d] {
		return fail("decision must be allow, deny, non_identity or bypass, got %q", doc["decision"])
	}
	if e := validateRules("include", doc["include"], true); e != nil {
		return e
	}
	for _, list := range []string{"require", "exclude"} {
		if e := validateRules(list, doc[list], false); e != nil {
			return e
		}
		if doc[list] == nil {
			doc[list] = []any{}
		}
	}
	if sd, ok := doc["session_duration"].(string); ok && sd != "" {
		if _, err := time.ParseDuration(sd); err != nil {
			return fail("session_duration %q is not a duration", sd)
		}
	}
	return nil
}

func (s *Server) policyJSON(p *AccessPolicy) map[string]any {
	out := make(map[string]any, len(p.Doc)+2)
	for k, v := range p.Doc {
		out[k] = v
	}
	out["app_count"] = s.st.appsUsing(p.ID)
	out["reusable"] = true
	return out
}

func (s *Server) listPolicies(c *reqCtx, r *http.Request) {
	if !s.checkAccount(c, r) {
		return
	}
	out := make([]map[string]any, 0, len(s.st.policies))
	for _, p := range s.st.policies {
		out = append(out, s.policyJSON(p))
	}
	page, info := paginate(c, out, pageAccess)
	c.okWith(http.StatusOK, page, info, nil)
}

func (s *Server) policyFor(c *reqCtx, r *http.Request) *AccessPolicy {
	if !s.checkAccount(c, r) {
		return nil
	}
	p := s.st.policy(r.PathValue("id"))
	if p == nil {
		c.fail(errAccessNotFound)
	}
	return p
}

func (s *Server) getPolicy(c *reqCtx, r *http.Request) {
	if p := s.policyFor(c, r); p != nil {
		c.ok(s.policyJSON(p))
	}
}

func (s *Server) storePolicy(doc map[string]any, p *AccessPolicy) *apiError {
	if e := s.validatePolicy(doc); e != nil {
		return e
	}
	now := s.now().UTC()
	if p.ID == "" {
		p.ID = newUUID()
		doc["created_at"] = now
	} else {
		doc["created_at"] = p.Doc["created_at"]
	}
	doc["id"] = p.ID
	doc["updated_at"] = now
	delete(doc, "app_count")
	delete(doc, "reusable")
	p.Doc = doc
	p.Name, _ = doc["name"].(string)
	p.Decision, _ = doc["decision"].(string)
	return nil
}

func (s *Server) createPolicy(c *reqCtx, r *http.Request) {
	if !s.checkAccount(c, r) {
		return
	}
	var doc map[string]any
	if !c.decode(&doc) {
		return
	}
	p := &AccessPolicy{}
	if e := s.storePolicy(doc, p); e != nil {
		c.fail(*e)
		return
	}
	s.st.policies = append(s.st.policies, p)
	c.touch(p.ID, false)
	c.ok(s.policyJSON(p))
}

func (s *Server) putPolicy(c *reqCtx, r *http.Request) {
	p := s.policyFor(c, r)
	if p == nil {
		return
	}
	var doc map[string]any
	if !c.decode(&doc) {
		return
	}
	next := *p
	if e := s.storePolicy(doc, &next); e != nil {
		c.fail(*e)
		return
	}
	*p = next
	c.touch(p.ID, p.Foreign)
	c.ok(s.policyJSON(p))
}

// deletePolicy refuses while an application still references the policy.
func (s *Server) deletePolicy(c *reqCtx, r *http.Request) {
	p := s.policyFor(c, r)
	if p == nil {
		return
	}
	if n := s.st.appsUsing(p.ID); n > 0 {
		c.fail(accessFail(errAccessConflict, "policy %s is used by %d application(s); remove it from them first", p.ID, n))
		return
	}
	s.st.policies = slices.DeleteFunc(s.st.policies, func(x *AccessPolicy) bool { return x == p })
	c.touch(p.ID, p.Foreign)
	c.ok(map[string]any{"id": p.ID})
}

// jsonClone deep-copies a JSON-shaped value.
func jsonClone(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
