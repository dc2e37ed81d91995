package web

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Auto-refresh intervals. Pages that read live Cloudflare state refresh
// slowly: each refresh spends API budget.
const (
	refreshState      = 5  // registry and agent state: cheap
	refreshCloudflare = 30 // tunnels, DNS, Access: Cloudflare reads
)

// contentSecurityPolicy allows only our own script and style.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const flashCookie = "labelgate_flash"

// pages are the parsed templates, one set per page (each is the layout plus
// the page's "content").
type pages map[string]*template.Template

var pageNames = []string{"overview", "hostnames", "tunnels", "dns", "access", "agents", "events", "plan", "login", "error"}

func parsePages(funcs template.FuncMap) pages {
	p := pages{}
	for _, name := range pageNames {
		p[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

type navItem struct {
	Path, Title string
	Active      bool
}

var navPages = []navItem{
	{Path: "/", Title: "Overview"},
	{Path: "/hostnames", Title: "Hostnames"},
	{Path: "/tunnels", Title: "Tunnels"},
	{Path: "/dns", Title: "DNS"},
	{Path: "/access", Title: "Access"},
	{Path: "/agents", Title: "Agents"},
	{Path: "/events", Title: "Events"},
	{Path: "/plan", Title: "Plan"},
}

// pageData is what every template gets; Page holds the page's own data.
type pageData struct {
	Title   string
	Nav     []navItem
	Version string
	Now     time.Time
	// Refresh is the auto-refresh interval in seconds; 0 turns it off.
	Refresh int
	// TokenConfigured: a token protects the dashboard and enables actions.
	TokenConfigured bool
	LoggedIn        bool
	CSRF            string
	// ActionsDisabled is why the action buttons are disabled ("" when they
	// work).
	ActionsDisabled string
	// Here is the current path and query: where an action returns to.
	Here   string
	Flash  *flash
	Errors []string
	Page   any
}

type flash struct {
	OK      bool
	Message string
}

func (s *server) dashboardRoutes() {
	mux := s.mux
	page := func(pattern, name, title string, refresh int, load loader) {
		mux.Handle(pattern, s.requireLogin(s.page(name, title, refresh, load)))
	}
	page("GET /{$}", "overview", "Overview", refreshState, s.loadOverview)
	page("GET /hostnames", "hostnames", "Hostnames", refreshState, s.loadHostnames)
	page("GET /tunnels", "tunnels", "Tunnels", refreshCloudflare, s.loadTunnels)
	page("GET /dns", "dns", "DNS", refreshCloudflare, s.loadDNS)
	page("GET /access", "access", "Access", refreshCloudflare, s.loadAccess)
	page("GET /agents", "agents", "Agents", refreshState, s.loadAgents)
	page("GET /events", "events", "Events", refreshState, s.loadEvents)
	page("GET /plan", "plan", "Plan", 0, s.loadPlan)

	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	mux.Handle("POST /actions/resync", s.dashAction(func(r *http.Request) (actionJSON, error) {
		return s.doResync(r)
	}))
	mux.Handle("POST /actions/pending-deletes/{hostname}/cancel", s.dashAction(func(r *http.Request) (actionJSON, error) {
		return s.doCancelDelete(r, r.PathValue("hostname"))
	}))
	mux.Handle("POST /actions/agents/{name}/decommission", s.dashAction(func(r *http.Request) (actionJSON, error) {
		return s.doDecommission(r, r.PathValue("name"))
	}))
	mux.Handle("POST /actions/agents/{name}/enable", s.dashAction(func(r *http.Request) (actionJSON, error) {
		return s.doEnableAgent(r, r.PathValue("name"))
	}))

	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
}

// requireLogin sends a visitor without a session to the login form when a
// token is configured.
func (s *server) requireLogin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.auth.enabled {
			if _, ok := s.auth.sessionFrom(r); !ok {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// loader reads a page's data. It returns what it could read and the
// failures of the rest, so one slow planner does not blank the page.
type loader func(ctx context.Context, r *http.Request) (data any, errs []error)

func (s *server) page(name, title string, refresh int, load loader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := backendCtx(r)
		defer cancel()
		data, errs := load(ctx, r)
		d := s.baseData(w, r, title)
		d.Refresh = refresh
		d.Page = data
		status := http.StatusOK
		for _, err := range errs {
			var bad badRequest
			if errors.As(err, &bad) {
				d.Errors = append(d.Errors, bad.Error())
				status = http.StatusBadRequest
				continue
			}
			st, msg := backendFailure(err, "reading "+strings.ToLower(title))
			s.logFailure(r, st, msg)
			d.Errors = append(d.Errors, msg)
			if status == http.StatusOK {
				status = st
			}
		}
		if p, ok := data.(interface{ refresh() bool }); ok && !p.refresh() {
			d.Refresh = 0
		}
		s.render(w, r, name, status, d)
	})
}

// baseData fills what every page shows, consuming the flash cookie.
func (s *server) baseData(w http.ResponseWriter, r *http.Request, title string) pageData {
	d := pageData{
		Title:           title,
		Version:         s.version,
		Now:             s.now(),
		TokenConfigured: s.auth.enabled,
		Here:            r.URL.RequestURI(),
	}
	for _, n := range navPages {
		n.Active = n.Title == title
		d.Nav = append(d.Nav, n)
	}
	if sess, ok := s.auth.sessionFrom(r); ok {
		d.LoggedIn = true
		d.CSRF = s.auth.csrfToken(sess)
	}
	if !s.auth.enabled {
		d.ActionsDisabled = "Actions are disabled: no API token is configured. Set LABELGATE_API_TOKEN (or LABELGATE_API_TOKEN_FILE) and restart labelgate to enable them."
	}
	if f := readFlash(r); f != nil {
		d.Flash = f
		clearFlash(w)
	}
	return d
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, name string, status int, d pageData) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.logger.Error("rendering page", "page", name, "error", err)
		http.Error(w, "rendering the page failed; see the log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client has gone
}

// renderError answers an HTML error page.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d := s.baseData(w, r, http.StatusText(status))
	d.Page = errorPage{Status: status, Message: msg}
	s.render(w, r, "error", status, d)
}

type errorPage struct {
	Status  int
	Message string
}

// badRequest marks a loader error caused by the query, not the backend.
type badRequest struct{ error }

// gather runs fns concurrently and returns their errors, in order.
func gather(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// --- pages -----------------------------------------------------------------

type overviewPage struct {
	Overview       overviewJSON
	States         []stateCount
	LastSync       []plannerSync
	RecentErrors   []ErrorView
	Conflicts      []ConflictView
	PendingDeletes []PendingDelete
	AgentsAttn     []AgentView // not connected
}

type stateCount struct {
	State string
	Count int
}

type plannerSync struct {
	Planner string
	At      time.Time
}

func (s *server) loadOverview(ctx context.Context, r *http.Request) (any, []error) {
	var (
		ov      Overview
		p       overviewPage
		agents  []AgentView
		pending []PendingDelete
	)
	errs := gather(
		func() (err error) { ov, err = s.backend.Overview(ctx); return },
		func() (err error) { p.Conflicts, err = s.backend.Conflicts(ctx); return },
		func() (err error) { pending, err = s.backend.PendingDeletes(ctx); return },
		func() (err error) { agents, err = s.backend.Agents(ctx); return },
	)
	p.Overview = toOverview(ov, s.version, s.auth.enabled)
	p.RecentErrors = ov.RecentErrors
	for _, st := range withKnown(hostnameStates, ov.Hostnames) {
		p.States = append(p.States, stateCount{State: st, Count: ov.Hostnames[st]})
	}
	for _, pl := range sortedKeys(ov.LastSync) {
		p.LastSync = append(p.LastSync, plannerSync{Planner: pl, At: ov.LastSync[pl]})
	}
	p.PendingDeletes = sortPending(pending)
	for _, a := range agents {
		if !a.Connected && a.State != "decommissioned" {
			p.AgentsAttn = append(p.AgentsAttn, a)
		}
	}
	return p, errs
}

type hostnamesPage struct {
	Hostnames      []HostnameView
	Total          int
	States         []stateCount
	State          string // the filter
	Query          string // substring filter
	Conflicts      []ConflictView
	PendingDeletes []PendingDelete
	LabelErrors    []LabelErrorView
}

func (s *server) loadHostnames(ctx context.Context, r *http.Request) (any, []error) {
	var (
		p   hostnamesPage
		all []HostnameView
	)
	p.State = r.URL.Query().Get("state")
	p.Query = strings.TrimSpace(r.URL.Query().Get("q"))
	errs := gather(
		func() (err error) { all, err = s.backend.Hostnames(ctx); return },
		func() (err error) { p.Conflicts, err = s.backend.Conflicts(ctx); return },
		func() (err error) { p.PendingDeletes, err = s.backend.PendingDeletes(ctx); return },
		func() (err error) { p.LabelErrors, err = s.backend.LabelErrors(ctx); return },
	)
	counts := map[string]int{}
	for _, h := range all {
		counts[string(h.State)]++
	}
	for _, st := range withKnown(hostnameStates, counts) {
		p.States = append(p.States, stateCount{State: st, Count: counts[st]})
	}
	p.Total = len(all)
	q := strings.ToLower(p.Query)
	for _, h := range all {
		if (p.State == "" || string(h.State) == p.State) && (q == "" || strings.Contains(h.Hostname, q)) {
			p.Hostnames = append(p.Hostnames, h)
		}
	}
	slices.SortStableFunc(p.Hostnames, func(a, b HostnameView) int { return cmp.Compare(a.Hostname, b.Hostname) })
	p.PendingDeletes = sortPending(p.PendingDeletes)
	return p, errs
}

func (s *server) loadTunnels(ctx context.Context, r *http.Request) (any, []error) {
	ts, err := s.backend.Tunnels(ctx)
	return ts, errs(err)
}

type dnsPage struct {
	Zones []zoneRecords
	Total int
}

type zoneRecords struct {
	Zone    string
	Records []RecordView
	Owned   int
	// Credential is the credential that reconciles the zone.
	Credential string
}

func (s *server) loadDNS(ctx context.Context, r *http.Request) (any, []error) {
	rs, err := s.backend.DNSRecords(ctx)
	byZone := map[string][]RecordView{}
	for _, rec := range rs {
		byZone[rec.Zone] = append(byZone[rec.Zone], rec)
	}
	p := dnsPage{Total: len(rs)}
	for _, z := range sortedKeys(byZone) {
		zr := zoneRecords{Zone: z, Records: byZone[z], Credential: byZone[z][0].Credential}
		for _, rec := range zr.Records {
			if rec.Owned {
				zr.Owned++
			}
		}
		p.Zones = append(p.Zones, zr)
	}
	return p, errs(err)
}

func (s *server) loadAccess(ctx context.Context, r *http.Request) (any, []error) {
	a, err := s.backend.Access(ctx)
	return a, errs(err)
}

func (s *server) loadAgents(ctx context.Context, r *http.Request) (any, []error) {
	as, err := s.backend.Agents(ctx)
	return as, errs(err)
}

type eventsPage struct {
	Events     []store.Event
	Hostname   string
	Before     int64
	Limit      int
	NextBefore int64
}

// refresh: an older page of the log does not change; only the newest
// page refreshes.
func (p eventsPage) refresh() bool { return p.Before == 0 }

func (s *server) loadEvents(ctx context.Context, r *http.Request) (any, []error) {
	q, err := parseEventQuery(r)
	if err != nil {
		return eventsPage{}, []error{badRequest{err}}
	}
	es, err := s.backend.Events(ctx, q)
	return eventsPage{Events: es, Hostname: q.Hostname, Before: q.BeforeID, Limit: q.Limit, NextBefore: nextBefore(q, es)}, errs(err)
}

func (s *server) loadPlan(ctx context.Context, r *http.Request) (any, []error) {
	p, err := s.backend.Plan(ctx)
	return p, errs(err)
}

func errs(err error) []error {
	if err == nil {
		return nil
	}
	return []error{err}
}

func sortPending(ps []PendingDelete) []PendingDelete {
	slices.SortStableFunc(ps, func(a, b PendingDelete) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Hostname, b.Hostname))
	})
	return ps
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// --- login, logout, actions ------------------------------------------------

type loginPage struct {
	Next  string
	Error string
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if s.auth.enabled {
		if _, ok := s.auth.sessionFrom(r); ok {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
	}
	d := s.baseData(w, r, "Log in")
	d.Page = loginPage{Next: next}
	s.render(w, r, "login", http.StatusOK, d)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if err := s.crossOrigin.Check(r); err != nil {
		s.renderError(w, r, http.StatusForbidden, "Cross-origin request refused: "+err.Error())
		return
	}
	if err := r.ParseForm(); err != nil {
		s.formError(w, r, err)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if !s.auth.enabled {
		// Nothing to log in to: the dashboard is open.
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	ok, refused := s.auth.attempt(r, strings.TrimSpace(r.PostFormValue("token")), "login")
	if refused != nil {
		w.Header().Set("Retry-After", refused.retryAfter())
		d := s.baseData(w, r, "Log in")
		d.Page = loginPage{Next: next, Error: refused.loginMessage()}
		s.render(w, r, "login", http.StatusTooManyRequests, d)
		return
	}
	if !ok {
		d := s.baseData(w, r, "Log in")
		d.Page = loginPage{Next: next, Error: "That is not the API token."}
		challenge(w, credWrongBearer)
		s.render(w, r, "login", http.StatusUnauthorized, d)
		return
	}
	sess, value := s.auth.newSession()
	s.auth.setSessionCookie(w, r, value, sess.expires)
	s.logger.Info("dashboard login", "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.crossOrigin.Check(r); err != nil {
		s.renderError(w, r, http.StatusForbidden, "Cross-origin request refused: "+err.Error())
		return
	}
	if err := r.ParseForm(); err != nil {
		s.formError(w, r, err)
		return
	}
	// Without a valid session there is nothing to end but the cookie.
	if sess, ok := s.auth.sessionFrom(r); ok {
		if !s.auth.csrfValid(sess, r.PostFormValue(csrfField)) {
			s.renderError(w, r, http.StatusForbidden, "The form's CSRF token does not match your session; reload the page and try again.")
			return
		}
		s.auth.endSession(sess)
		s.logger.Info("dashboard logout", "remote", r.RemoteAddr)
	}
	s.auth.clearSessionCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// dashAction guards a dashboard form: same origin, a token configured, a
// session, and the session's CSRF token in the form. It answers with a
// redirect back (Post/Redirect/Get) and a flash message.
func (s *server) dashAction(do func(r *http.Request) (actionJSON, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.crossOrigin.Check(r); err != nil {
			s.renderError(w, r, http.StatusForbidden, "Cross-origin request refused: "+err.Error())
			return
		}
		if !s.auth.enabled {
			s.renderError(w, r, http.StatusForbidden, errNoToken.Error())
			return
		}
		sess, ok := s.auth.sessionFrom(r)
		if !ok {
			challenge(w, credNone)
			s.renderError(w, r, http.StatusUnauthorized, "You are not logged in or your session has expired: log in again, then retry.")
			return
		}
		if err := r.ParseForm(); err != nil {
			s.formError(w, r, err)
			return
		}
		if !s.auth.csrfValid(sess, r.PostFormValue(csrfField)) {
			s.renderError(w, r, http.StatusForbidden, "The form's CSRF token does not match your session; reload the page and try again.")
			return
		}
		res, err := do(r)
		if err != nil {
			status, msg := backendFailure(err, "the action failed")
			s.logFailure(r, status, msg)
			setFlash(w, flash{OK: false, Message: msg})
		} else {
			setFlash(w, flash{OK: true, Message: res.Message})
		}
		http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	})
}

func (s *server) formError(w http.ResponseWriter, r *http.Request, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
		return
	}
	s.fail(w, r, http.StatusBadRequest, "reading the form: "+err.Error())
}

// safeNext returns p if it is a path on this site, else "/": a login or
// action never redirects elsewhere.
func safeNext(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// The flash message survives one redirect in a short-lived cookie.
func setFlash(w http.ResponseWriter, f flash) {
	v := "err:"
	if f.OK {
		v = "ok:"
	}
	http.SetCookie(w, &http.Cookie{
		Name:     flashCookie,
		Value:    base64.RawURLEncoding.EncodeToString([]byte(v + f.Message)),
		Path:     "/",
		MaxAge:   60,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

func readFlash(r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	v := string(b)
	switch {
	case strings.HasPrefix(v, "ok:"):
		return &flash{OK: true, Message: v[3:]}
	case strings.HasPrefix(v, "err:"):
		return &flash{Message: v[4:]}
	}
	return nil
}

func clearFlash(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// --- template functions ----------------------------------------------------

func (s *server) templateFuncs() template.FuncMap {
	return template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"rel":   func(t time.Time) string { return relative(s.now(), t) },
		"owner": ownerString,
		"owners": func(os []messages.Owner) string {
			parts := make([]string, 0, len(os))
			for _, o := range os {
				parts = append(parts, ownerString(o))
			}
			return strings.Join(parts, ", ")
		},
		"join":    strings.Join,
		"pathesc": url.PathEscape,
		"btn": func(root pageData, action, label, confirm string) button {
			return button{Action: action, Label: label, Confirm: confirm, Root: root}
		},
	}
}

// button is an action form: a POST with the CSRF token, returning to the
// page it was on.
type button struct {
	Action, Label string
	// Confirm is asked in a dialog before submitting ("" for none).
	Confirm string
	Root    pageData
}

func ownerString(o messages.Owner) string {
	if o.Source == "" && o.Container == "" {
		return ""
	}
	s := o.Source + "/" + o.Container
	if o.Service != "" {
		s += " (" + o.Service + ")"
	}
	return s
}

// relative says how far t is from now in words: "3m ago", "in 2h 5m".
func relative(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm %ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		s = fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}
