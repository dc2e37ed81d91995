package cfsim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

// recordIn is a record as a request sends it; nil/absent fields are unset.
type recordIn struct {
	ID       *string         `json:"id"`
	Name     *string         `json:"name"`
	Type     *string         `json:"type"`
	Content  *string         `json:"content"`
	TTL      *json.Number    `json:"ttl"`
	Proxied  *bool           `json:"proxied"`
	Comment  json.RawMessage `json:"comment"` // null clears it
	Priority *json.Number    `json:"priority"`
	Data     map[string]any  `json:"data"`
	Tags     *[]string       `json:"tags"`
}

// apply lays in over base (a fresh record for POST/PUT, a copy for PATCH).
func (in recordIn) apply(base *Record) *apiError {
	if in.Name != nil {
		base.Name = *in.Name
	}
	if in.Type != nil {
		base.Type = strings.ToUpper(strings.TrimSpace(*in.Type))
	}
	if in.Content != nil {
		base.Content = *in.Content
	}
	if in.TTL != nil {
		ttl, err := in.TTL.Int64()
		if err != nil {
			e := errBadTTL
			return &e
		}
		base.TTL = int(ttl)
	}
	if in.Proxied != nil {
		base.Proxied = *in.Proxied
	}
	if len(in.Comment) > 0 {
		if string(in.Comment) == "null" {
			base.Comment = ""
		} else if err := json.Unmarshal(in.Comment, &base.Comment); err != nil {
			e := errBadComment.withMessage("Comment must be a string.")
			return &e
		}
	}
	if in.Priority != nil {
		p, err := in.Priority.Int64()
		if err != nil {
			e := errBadRecordData.withMessage("Priority must be an integer between 0 and 65535.")
			return &e
		}
		pi := int(p)
		base.Priority = &pi
	}
	if in.Data != nil {
		base.Data = in.Data
	}
	if in.Tags != nil {
		base.Tags = slices.Clone(*in.Tags)
	}
	return nil
}

var supportedTypes = map[string]bool{"A": true, "AAAA": true, "CNAME": true, "TXT": true, "MX": true, "NS": true, "SRV": true, "CAA": true, "PTR": true}

func proxiableType(t string) bool { return t == "A" || t == "AAAA" || t == "CNAME" }

// validateRecord normalises r and checks it against Cloudflare's rules for
// one record (conflicts with other records are checked separately).
func (s *Server) validateRecord(z *Zone, r *Record) *apiError {
	fail := func(e apiError) *apiError { return &e }
	if !supportedTypes[r.Type] {
		return fail(errBadType.withMessage(fmt.Sprintf("Invalid DNS record type %q.", r.Type)))
	}
	// Name: relative names are completed with the zone, "@" is the apex.
	name := normName(r.Name)
	switch {
	case name == "" || name == "@":
		name = z.Name
	case name != z.Name && !strings.HasSuffix(name, "."+z.Name):
		name = name + "." + z.Name
	}
	if !validDNSName(name, true) {
		return fail(errBadName)
	}
	r.Name = name
	r.ZoneID, r.ZoneName = z.ID, z.Name

	switch r.Type {
	case "A":
		ip := net.ParseIP(r.Content)
		if ip == nil || ip.To4() == nil || strings.Contains(r.Content, ":") {
			return fail(errBadA)
		}
	case "AAAA":
		ip := net.ParseIP(r.Content)
		if ip == nil || !strings.Contains(r.Content, ":") {
			return fail(errBadAAAA)
		}
	case "CNAME":
		r.Content = normName(r.Content)
		if !validDNSName(r.Content, false) {
			return fail(errBadCNAME)
		}
	case "NS", "PTR":
		r.Content = normName(r.Content)
		if !validDNSName(r.Content, false) {
			return fail(errBadRecordData.withMessage(fmt.Sprintf("Content for %s record must be a valid hostname.", r.Type)))
		}
	case "MX":
		r.Content = normName(r.Content)
		if !validDNSName(r.Content, false) {
			return fail(errBadRecordData.withMessage("Content for MX record must be a valid mail server hostname."))
		}
		if r.Priority == nil || *r.Priority < 0 || *r.Priority > 65535 {
			return fail(errBadRecordData.withMessage("MX records require a priority between 0 and 65535."))
		}
	case "TXT":
		if r.Content == "" {
			return fail(errBadRecordData.withMessage("Content for TXT record is required."))
		}
		if len(r.Content) > 2048 {
			return fail(errBadRecordData.withMessage("Content for TXT record must be at most 2048 characters."))
		}
	case "SRV":
		if e := validateSRV(r); e != nil {
			return e
		}
	case "CAA":
		if e := validateCAA(r); e != nil {
			return e
		}
	}

	minTTL := 60
	if z.Plan == "enterprise" {
		minTTL = 30
	}
	if r.TTL == 0 {
		r.TTL = 1
	}
	if r.TTL != 1 && (r.TTL < minTTL || r.TTL > 86400) {
		return fail(ttlRange(minTTL))
	}
	r.Proxiable = proxiableType(r.Type)
	if r.Proxied && !r.Proxiable {
		return fail(dnsValidation(errNotProxiable))
	}
	if r.Proxied {
		r.TTL = 1 // proxied records always have automatic TTL
	}

	maxComment := DefaultCommentMax
	if z.paid() {
		maxComment = PaidCommentMax
	}
	if len([]rune(r.Comment)) > maxComment {
		return fail(errCommentTooLong.withMessage(fmt.Sprintf("DNS record comment exceeds the maximum length of %d characters.", maxComment)))
	}
	if strings.ContainsAny(r.Comment, "\r\n") {
		return fail(errBadComment.withMessage("Comment must not contain line breaks."))
	}
	if len(r.Tags) > 0 {
		if !z.paid() {
			return fail(dnsValidation(errTagsOverQuota.withMessage(fmt.Sprintf("DNS record has %d tags, exceeding the quota of 0.", len(r.Tags)))))
		}
		if len(r.Tags) > 20 {
			return fail(errBadRecordData.withMessage("A record can have at most 20 tags."))
		}
		for _, t := range r.Tags {
			k, v, ok := strings.Cut(t, ":")
			if !ok || k == "" || len(k) > 32 || len(v) > 100 || strings.Trim(strings.ToLower(k), "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				return fail(errBadRecordData.withMessage(fmt.Sprintf("Tag %q must be name:value (name: up to 32 letters, digits, - or _; value: up to 100 characters).", t)))
			}
		}
	}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	if r.Settings == nil {
		r.Settings = map[string]any{}
	}
	return nil
}

// validDNSName checks a hostname: labels of 1–63 letters, digits, '-' or
// '_', at most 253 characters, and (for record names only) a wildcard '*'
// as the whole leftmost label.
func validDNSName(name string, allowWildcard bool) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return false
	}
	for i, l := range labels {
		if l == "*" && i == 0 && allowWildcard {
			continue
		}
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
		for _, ch := range l {
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return false
			}
		}
	}
	return true
}

func dataInt(d map[string]any, key string, lo, hi int) (int, bool) {
	v, ok := d[key]
	if !ok {
		return 0, false
	}
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, false
		}
		n = i
	case float64:
		if x != float64(int64(x)) {
			return 0, false
		}
		n = int64(x)
	case int:
		n = int64(x)
	default:
		return 0, false
	}
	if n < int64(lo) || n > int64(hi) {
		return 0, false
	}
	return int(n), true
}

func dataString(d map[string]any, key string) string {
	s, _ := d[key].(string)
	return s
}

// validateSRV: name _service._proto.name, data priority/weight/port 0–65535
// and a hostname target (RFC 2782; Cloudflare's SRV form).
func validateSRV(r *Record) *apiError {
	bad := func(msg string) *apiError { e := errBadRecordData.withMessage(msg); return &e }
	labels := strings.Split(r.Name, ".")
	if len(labels) < 3 || !strings.HasPrefix(labels[0], "_") || len(labels[0]) < 2 ||
		!strings.HasPrefix(labels[1], "_") || len(labels[1]) < 2 {
		return bad("SRV record name must have the form _service._proto.name.")
	}
	if r.Data == nil {
		return bad("SRV records require data (priority, weight, port, target).")
	}
	prio, ok1 := dataInt(r.Data, "priority", 0, 65535)
	weight, ok2 := dataInt(r.Data, "weight", 0, 65535)
	port, ok3 := dataInt(r.Data, "port", 0, 65535)
	if !ok1 || !ok2 || !ok3 {
		return bad("SRV priority, weight and port must be integers between 0 and 65535.")
	}
	rawTarget := dataString(r.Data, "target")
	target := normName(rawTarget)
	if rawTarget == "." {
		target = "."
	} else if !validDNSName(target, false) {
		return bad("SRV target must be a valid hostname.")
	}
	r.Data = map[string]any{"priority": prio, "weight": weight, "port": port, "target": target}
	p := prio
	r.Priority = &p
	r.Content = fmt.Sprintf("%d %d %s", weight, port, target)
	return nil
}

// validateCAA: flags 0–255, tag issue|issuewild|iodef, a value (RFC 8659).
func validateCAA(r *Record) *apiError {
	bad := func(msg string) *apiError { e := errBadRecordData.withMessage(msg); return &e }
	if r.Data == nil {
		return bad("CAA records require data (flags, tag, value).")
	}
	flags, ok := dataInt(r.Data, "flags", 0, 255)
	if !ok {
		return bad("CAA flags must be an integer between 0 and 255.")
	}
	tag := strings.ToLower(dataString(r.Data, "tag"))
	if tag != "issue" && tag != "issuewild" && tag != "iodef" {
		return bad("CAA tag must be issue, issuewild or iodef.")
	}
	value := dataString(r.Data, "value")
	if value == "" {
		return bad("CAA value is required.")
	}
	if tag == "iodef" && !strings.HasPrefix(value, "mailto:") && !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		return bad("CAA iodef value must be a mailto: or http(s):// URL.")
	}
	r.Data = map[string]any{"flags": flags, "tag": tag, "value": value}
	r.Content = fmt.Sprintf("%d %s %q", flags, tag, value)
	return nil
}

// sameContent compares record contents the way Cloudflare deduplicates.
func sameContent(a, b *Record) bool {
	if a.Type == "TXT" {
		return a.Content == b.Content
	}
	return strings.EqualFold(a.Content, b.Content)
}

// conflict checks r against the other records of its zone: a CNAME where
// any record is (81053), any record where a CNAME is (81054), an identical
// record (81058).
func conflict(recs []*Record, r *Record) *apiError {
	for _, o := range recs {
		if o.ID == r.ID || o.Name != r.Name {
			continue
		}
		if r.Type == "CNAME" {
			e := errHostExists
			return &e
		}
		if o.Type == "CNAME" {
			e := errCNAMEExists
			return &e
		}
		if o.Type == r.Type && sameContent(o, r) {
			e := errIdenticalRecord
			return &e
		}
	}
	return nil
}

// isObjectID reports whether id has the shape of a zone or record id (32
// hex digits); Cloudflare answers 7003 for any other, 81044 for an unknown
// record of the right shape.
func isObjectID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, ch := range id {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
			return false
		}
	}
	return true
}

func (s *Server) zoneFor(c *reqCtx, r *http.Request) *Zone {
	z := s.st.zone(r.PathValue("zone"))
	if z == nil {
		c.fail(couldNotRoute(r.URL.Path))
	}
	return z
}

func (s *Server) listRecords(c *reqCtx, r *http.Request) {
	z := s.zoneFor(c, r)
	if z == nil {
		return
	}
	q := c.query
	var conds []func(*Record) bool
	if t := q.Get("type"); t != "" {
		conds = append(conds, func(rec *Record) bool { return strings.EqualFold(rec.Type, t) })
	}
	addOps := func(field string, get func(*Record) string) {
		ops := map[string]func(a, b string) bool{
			"":            func(a, b string) bool { return a == b },
			".exact":      func(a, b string) bool { return a == b },
			".contains":   strings.Contains,
			".startswith": strings.HasPrefix,
			".endswith":   strings.HasSuffix,
		}
		for suffix, op := range ops {
			if v := q.Get(field + suffix); v != "" {
				want := strings.ToLower(v)
				if field == "name" {
					want = normName(v)
				}
				conds = append(conds, func(rec *Record) bool { return op(strings.ToLower(get(rec)), want) })
			}
		}
	}
	addOps("name", func(rec *Record) string { return rec.Name })
	addOps("content", func(rec *Record) string { return rec.Content })
	addOps("comment", func(rec *Record) string { return rec.Comment })
	if q.Has("comment.present") {
		conds = append(conds, func(rec *Record) bool { return rec.Comment != "" })
	}
	if q.Has("comment.absent") {
		conds = append(conds, func(rec *Record) bool { return rec.Comment == "" })
	}
	if p := q.Get("proxied"); p != "" {
		want := p == "true"
		conds = append(conds, func(rec *Record) bool { return rec.Proxied == want })
	}
	matchAny := q.Get("match") == "any"
	var out []*Record
	for _, rec := range s.st.records[z.ID] {
		keep := !matchAny || len(conds) == 0
		for _, cond := range conds {
			m := cond(rec)
			if matchAny && m {
				keep = true
				break
			}
			if !matchAny && !m {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, rec)
		}
	}
	page, info := paginate(c, out, pageRecords)
	c.okWith(http.StatusOK, page, info, nil)
}

func (s *Server) getRecord(c *reqCtx, r *http.Request) {
	z := s.zoneFor(c, r)
	if z == nil {
		return
	}
	if !isObjectID(r.PathValue("id")) {
		c.fail(couldNotRoute(r.URL.Path))
		return
	}
	rec := s.st.record(z.ID, r.PathValue("id"))
	if rec == nil {
		c.fail(errRecordNotFound)
		return
	}
	c.ok(rec)
}

// newRecord builds and validates a record from a POST body (or batch post).
func (s *Server) newRecord(z *Zone, recs []*Record, in recordIn) (*Record, *apiError) {
	rec := &Record{TTL: 1}
	if e := in.apply(rec); e != nil {
		if wrappedOnCreate[e.Code] {
			w := dnsValidation(*e)
			return nil, &w
		}
		return nil, e
	}
	if e := s.validateRecord(z, rec); e != nil {
		if wrappedOnCreate[e.Code] {
			w := dnsValidation(*e)
			return nil, &w
		}
		return nil, e
	}
	rec.ID = newID()
	if e := conflict(recs, rec); e != nil {
		return nil, e
	}
	rec.CreatedOn = s.now().UTC()
	rec.ModifiedOn = rec.CreatedOn
	return rec, nil
}

// changeRecord builds and validates the new version of old: PUT starts from
// scratch, PATCH from old.
func (s *Server) changeRecord(z *Zone, recs []*Record, old *Record, in recordIn, patch bool) (*Record, *apiError) {
	var rec *Record
	if patch {
		rec = cloneRecord(old)
		if in.Data != nil || in.Type != nil && !strings.EqualFold(*in.Type, old.Type) {
			// New data or a new type: the derived content/priority go too.
			rec.Content = ""
			rec.Priority = nil
		}
		if rec.Type == "SRV" || rec.Type == "CAA" {
			if in.Content != nil && in.Data == nil {
				rec.Data = nil
			}
		}
	} else {
		rec = &Record{TTL: 1}
	}
	if e := in.apply(rec); e != nil {
		return nil, e
	}
	rec.ID, rec.CreatedOn, rec.Foreign = old.ID, old.CreatedOn, old.Foreign
	if e := s.validateRecord(z, rec); e != nil {
		return nil, e
	}
	if e := conflict(recs, rec); e != nil {
		return nil, e
	}
	rec.ModifiedOn = s.now().UTC()
	return rec, nil
}

func (s *Server) createRecord(c *reqCtx, r *http.Request) {
	z := s.zoneFor(c, r)
	if z == nil {
		return
	}
	var in recordIn
	if !c.decode(&in) {
		return
	}
	rec, e := s.newRecord(z, s.st.records[z.ID], in)
	if e != nil {
		c.fail(*e)
		return
	}
	s.st.records[z.ID] = append(s.st.records[z.ID], rec)
	c.touch(rec.ID, false)
	c.ok(rec)
}

func (s *Server) putRecord(c *reqCtx, r *http.Request)   { s.changeRecordHandler(c, r, false) }
func (s *Server) patchRecord(c *reqCtx, r *http.Request) { s.changeRecordHandler(c, r, true) }

func (s *Server) changeRecordHandler(c *reqCtx, r *http.Request, patch bool) {
	z := s.zoneFor(c, r)
	if z == nil {
		return
	}
	if !isObjectID(r.PathValue("id")) {
		c.fail(couldNotRoute(r.URL.Path))
		return
	}
	recs := s.st.records[z.ID]
	i := slices.IndexFunc(recs, func(rec *Record) bool { return rec.ID == r.PathValue("id") })
	if i < 0 {
		c.fail(errRecordNotFound)
		return
	}
	var in recordIn
	if !c.decode(&in) {
		return
	}
	rec, e := s.changeRecord(z, recs, recs[i], in, patch)
	if e != nil {
		c.fail(*e)
		return
	}
	recs[i] = rec
	c.touch(rec.ID, rec.Foreign)
	c.ok(rec)
}

func (s *Server) deleteRecord(c *reqCtx, r *http.Request) {
	z := s.zoneFor(c, r)
	if z == nil {
		return
	}
	if !isObjectID(r.PathValue("id")) {
		c.fail(couldNotRoute(r.URL.Path))
		return
	}
	recs := s.st.records[z.ID]
	i := slices.IndexFunc(recs, func(rec *Record) bool { return rec.ID == r.PathValue("id") })
	if i < 0 {
		c.fail(errRecordNotFound)
		return
	}
	old := recs[i]
	s.st.records[z.ID] = slices.Delete(recs, i, i+1)
	c.touch(old.ID, old.Foreign)
	c.ok(map[string]any{"id": old.ID})
}

// batchRecords runs deletes → patches → puts → posts on a copy of the zone
// and commits only if every operation succeeds.
func (s *Server) batchRecords(c *reqCtx, r *http.Request) {
	z := s.zoneFor(c, r)
	if z == nil {
		return
	}
	var in struct {
		Deletes []struct {
			ID string `json:"id"`
		} `json:"deletes"`
		Patches []recordIn `json:"patches"`
		Puts    []recordIn `json:"puts"`
		Posts   []recordIn `json:"posts"`
	}
	if !c.decode(&in) {
		return
	}
	n := len(in.Deletes) + len(in.Patches) + len(in.Puts) + len(in.Posts)
	if s.batchCap > 0 && n > s.batchCap {
		c.fail(errBatchTooLarge.withMessage(fmt.Sprintf("Batch request has %d operations; the maximum is %d.", n, s.batchCap)))
		return
	}
	work := make([]*Record, 0, len(s.st.records[z.ID]))
	for _, rec := range s.st.records[z.ID] {
		work = append(work, cloneRecord(rec))
	}
	failAt := func(list string, i int, e apiError) {
		e.Message = fmt.Sprintf("%s[%d]: %s", list, i, e.Message)
		c.fail(e)
	}
	type touched struct {
		id      string
		foreign bool
	}
	var touch []touched
	res := map[string][]*Record{"deletes": {}, "patches": {}, "puts": {}, "posts": {}}
	for i, d := range in.Deletes {
		j := slices.IndexFunc(work, func(rec *Record) bool { return rec.ID == d.ID })
		if j < 0 {
			failAt("deletes", i, errRecordNotFound)
			return
		}
		res["deletes"] = append(res["deletes"], work[j])
		touch = append(touch, touched{work[j].ID, work[j].Foreign})
		work = slices.Delete(work, j, j+1)
	}
	for _, step := range []struct {
		list  string
		ops   []recordIn
		patch bool
	}{{"patches", in.Patches, true}, {"puts", in.Puts, false}} {
		for i, op := range step.ops {
			id := ""
			if op.ID != nil {
				id = *op.ID
			}
			j := slices.IndexFunc(work, func(rec *Record) bool { return rec.ID == id })
			if j < 0 {
				failAt(step.list, i, errRecordNotFound)
				return
			}
			rec, e := s.changeRecord(z, work, work[j], op, step.patch)
			if e != nil {
				failAt(step.list, i, *e)
				return
			}
			work[j] = rec
			res[step.list] = append(res[step.list], rec)
			touch = append(touch, touched{rec.ID, rec.Foreign})
		}
	}
	for i, op := range in.Posts {
		rec, e := s.newRecord(z, work, op)
		if e != nil {
			failAt("posts", i, *e)
			return
		}
		work = append(work, rec)
		res["posts"] = append(res["posts"], rec)
		touch = append(touch, touched{rec.ID, false})
	}
	s.st.records[z.ID] = work
	for _, t := range touch {
		c.touch(t.id, t.foreign)
	}
	c.ok(res)
}
