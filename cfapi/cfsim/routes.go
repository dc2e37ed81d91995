package cfsim

import (
	"net/http"
	"slices"
	"strings"
)

// routes registers every API path, spelled as cloudflare-go v7.9.0 calls it
// (dns/record.go, zones/zone.go, user/token.go, accounts/token.go,
// zero_trust/tunnelcloudflared*.go, zero_trust/accessapplication.go,
// zero_trust/accesspolicy.go).
func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /user/tokens/verify", api(s.verifyToken))
	m.Handle("GET /accounts/{account}/tokens/verify", api(s.verifyAccountToken))

	m.Handle("GET /zones", api(s.listZones))
	m.Handle("GET /zones/{zone}", api(s.getZone))
	m.Handle("GET /zones/{zone}/dns_records", api(s.listRecords))
	m.Handle("POST /zones/{zone}/dns_records", api(s.createRecord))
	m.Handle("POST /zones/{zone}/dns_records/batch", api(s.batchRecords))
	m.Handle("GET /zones/{zone}/dns_records/{id}", api(s.getRecord))
	m.Handle("PUT /zones/{zone}/dns_records/{id}", api(s.putRecord))
	m.Handle("PATCH /zones/{zone}/dns_records/{id}", api(s.patchRecord))
	m.Handle("DELETE /zones/{zone}/dns_records/{id}", api(s.deleteRecord))

	m.Handle("GET /accounts/{account}/cfd_tunnel", api(s.listTunnels))
	m.Handle("GET /accounts/{account}/cfd_tunnel/{id}", api(s.getTunnel))
	m.Handle("GET /accounts/{account}/cfd_tunnel/{id}/configurations", api(s.getTunnelConfig))
	m.Handle("PUT /accounts/{account}/cfd_tunnel/{id}/configurations", api(s.putTunnelConfig))
	m.Handle("GET /accounts/{account}/cfd_tunnel/{id}/connections", api(s.getTunnelConnections))

	m.Handle("GET /accounts/{account}/access/apps", api(s.listApps))
	m.Handle("POST /accounts/{account}/access/apps", api(s.createApp))
	m.Handle("GET /accounts/{account}/access/apps/{id}", api(s.getApp))
	m.Handle("PUT /accounts/{account}/access/apps/{id}", api(s.putApp))
	m.Handle("DELETE /accounts/{account}/access/apps/{id}", api(s.deleteApp))
	m.Handle("GET /accounts/{account}/access/policies", api(s.listPolicies))
	m.Handle("POST /accounts/{account}/access/policies", api(s.createPolicy))
	m.Handle("GET /accounts/{account}/access/policies/{id}", api(s.getPolicy))
	m.Handle("PUT /accounts/{account}/access/policies/{id}", api(s.putPolicy))
	m.Handle("DELETE /accounts/{account}/access/policies/{id}", api(s.deletePolicy))
	s.mux = m
}

// Endpoints lists the API routes the simulator serves ("METHOD /path").
func Endpoints() []string {
	return slices.Clone(endpointList)
}

var endpointList = []string{
	"GET /user/tokens/verify",
	"GET /accounts/{account}/tokens/verify",
	"GET /zones",
	"GET /zones/{zone}",
	"GET /zones/{zone}/dns_records",
	"POST /zones/{zone}/dns_records",
	"POST /zones/{zone}/dns_records/batch",
	"GET /zones/{zone}/dns_records/{id}",
	"PUT /zones/{zone}/dns_records/{id}",
	"PATCH /zones/{zone}/dns_records/{id}",
	"DELETE /zones/{zone}/dns_records/{id}",
	"GET /accounts/{account}/cfd_tunnel",
	"GET /accounts/{account}/cfd_tunnel/{id}",
	"GET /accounts/{account}/cfd_tunnel/{id}/configurations",
	"PUT /accounts/{account}/cfd_tunnel/{id}/configurations",
	"GET /accounts/{account}/cfd_tunnel/{id}/connections",
	"GET /accounts/{account}/access/apps",
	"POST /accounts/{account}/access/apps",
	"GET /accounts/{account}/access/apps/{id}",
	"PUT /accounts/{account}/access/apps/{id}",
	"DELETE /accounts/{account}/access/apps/{id}",
	"GET /accounts/{account}/access/policies",
	"POST /accounts/{account}/access/policies",
	"GET /accounts/{account}/access/policies/{id}",
	"PUT /accounts/{account}/access/policies/{id}",
	"DELETE /accounts/{account}/access/policies/{id}",
}

func (s *Server) verifyToken(c *reqCtx, _ *http.Request) {
	if c.token.AccountOwned && c.r.URL.Path != "" && !strings.Contains(c.r.URL.Path, "/accounts/") {
		c.fail(errAuthentication)
		return
	}
	c.okWith(http.StatusOK, map[string]any{"id": c.token.ID, "status": "active"}, nil,
		[]envelopeErr{{Code: 10000, Message: "This API Token is valid and active"}})
}

func (s *Server) verifyAccountToken(c *reqCtx, r *http.Request) {
	if !s.checkAccount(c, r) {
		return
	}
	s.verifyToken(c, r)
}

// checkAccount answers 7003 unless the path's account is the simulated one.
func (s *Server) checkAccount(c *reqCtx, r *http.Request) bool {
	if r.PathValue("account") != s.st.accountID {
		c.fail(couldNotRoute(r.URL.Path))
		return false
	}
	return true
}

func (s *Server) listZones(c *reqCtx, _ *http.Request) {
	name := normName(c.query.Get("name"))
	status := c.query.Get("status")
	acct := c.query.Get("account.id")
	var out []map[string]any
	for _, z := range s.st.zones {
		if name != "" && z.Name != name {
			continue
		}
		if status != "" && z.Status != status {
			continue
		}
		if acct != "" && z.AccountID != acct {
			continue
		}
		out = append(out, zoneJSON(z))
	}
	page, info := paginate(c, out, pageZones)
	c.okWith(http.StatusOK, page, info, nil)
}

func (s *Server) getZone(c *reqCtx, r *http.Request) {
	z := s.st.zone(r.PathValue("zone"))
	if z == nil {
		c.fail(couldNotRoute(r.URL.Path))
		return
	}
	c.ok(zoneJSON(z))
}

func zoneJSON(z *Zone) map[string]any {
	plans := map[string]string{"free": "Free Website", "pro": "Pro Website", "business": "Business Website", "enterprise": "Enterprise Website"}
	plan := z.Plan
	if plan == "" {
		plan = "free"
	}
	return map[string]any{
		"id":      z.ID,
		"name":    z.Name,
		"status":  z.Status,
		"paused":  false,
		"type":    "full",
		"account": map[string]any{"id": z.AccountID, "name": "cfsim account"},
		"plan":    map[string]any{"id": plan, "name": plans[strings.ToLower(plan)], "legacy_id": plan},
	}
}
