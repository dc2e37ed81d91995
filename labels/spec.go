package labels

// Result is everything Parse found on one container: a validated spec per
// service and the errors of the services (or labels) that did not validate.
// Slices are sorted by service name; errors by label key.
type Result struct {
	DNS     []DNSService     `json:"dns,omitempty"`
	Tunnels []TunnelService  `json:"tunnels,omitempty"`
	Access  []AccessTemplate `json:"access,omitempty"`
	Errors  []Error          `json:"errors,omitempty"`
}

// HasErrors reports whether any label was refused.
func (r Result) HasErrors() bool { return len(r.Errors) > 0 }

// Empty reports whether the container carried no labelgate services at all.
func (r Result) Empty() bool {
	return len(r.DNS) == 0 && len(r.Tunnels) == 0 && len(r.Access) == 0 && len(r.Errors) == 0
}

// Error is one refused label: the key at fault and a sentence saying what is
// wrong and what is allowed.
type Error struct {
	Key     string `json:"key"`
	Kind    string `json:"kind,omitempty"`
	Service string `json:"service,omitempty"`
	Message string `json:"message"`
}

func (e Error) Error() string { return e.Key + ": " + e.Message }

// Kinds of service under the prefix.
const (
	KindDNS    = "dns"
	KindTunnel = "tunnel"
	KindAccess = "access"
)

// TargetKind says where a DNS record's content comes from.
type TargetKind string

const (
	// TargetLiteral is content written in the label.
	TargetLiteral TargetKind = "literal"
	// TargetAuto is this host's public IP address (IPv4 for A, IPv6 for AAAA).
	TargetAuto TargetKind = "auto"
	// TargetContainer is the container's own IP address, on Network if set.
	TargetContainer TargetKind = "container"
)

// Target is the validated content source of a DNS record.
type Target struct {
	Kind TargetKind `json:"kind"`
	// Value is the literal content (normalised: lower-case hostnames,
	// canonical IP text) for TargetLiteral.
	Value string `json:"value,omitempty"`
	// Network names the Docker network whose address TargetContainer uses;
	// empty means the first network in lexical order.
	Network string `json:"network,omitempty"`
}

// DNSService is one validated `<prefix>.dns.<service>.*` block.
type DNSService struct {
	Service  string `json:"service"`
	Hostname string `json:"hostname"`
	Type     string `json:"type"`
	Target   Target `json:"target"`
	Proxied  bool   `json:"proxied"`
	// TTL in seconds; 1 means automatic.
	TTL     int    `json:"ttl"`
	Comment string `json:"comment,omitempty"`
	// Priority is set for MX and SRV records.
	Priority *uint16 `json:"priority,omitempty"`
	// Weight and Port are set for SRV records.
	Weight *uint16 `json:"weight,omitempty"`
	Port   *uint16 `json:"port,omitempty"`
	// Flags and Tag are set for CAA records; Target.Value is the CAA value.
	Flags *uint8 `json:"flags,omitempty"`
	Tag   string `json:"tag,omitempty"`
	// Cleanup deletes the record (after the grace period) once no container
	// claims it any more.
	Cleanup bool `json:"cleanup"`
	// Credential names the API credential to use; empty chooses by zone.
	Credential string `json:"credential,omitempty"`
	// Access names an access template to protect this hostname with.
	Access string `json:"access,omitempty"`
}

// TunnelService is one validated `<prefix>.tunnel.<service>.*` block: an
// ingress rule plus the proxied CNAME its hostname needs.
type TunnelService struct {
	Service  string `json:"service"`
	Hostname string `json:"hostname"`
	// Origin is the cloudflared service the rule routes to, as cloudflared
	// stores it (http://web:80, http_status:404, unix:/run/app.sock, …).
	Origin string `json:"origin"`
	// Tunnel is the configured tunnel name from the label; empty means the
	// registry assigns one (agent default, then global default).
	Tunnel string `json:"tunnel,omitempty"`
	// Path is the cloudflared path regular expression; empty matches all.
	Path          string         `json:"path,omitempty"`
	OriginRequest *OriginRequest `json:"originRequest,omitempty"`
	Cleanup       bool           `json:"cleanup"`
	Credential    string         `json:"credential,omitempty"`
	Access        string         `json:"access,omitempty"`
}

// OriginRequest mirrors cloudflared's originRequest object in the form the
// Cloudflare API stores it: camelCase keys, durations in whole seconds. Only
// keys a label set are present, so a rule carries exactly what was asked for.
type OriginRequest struct {
	ConnectTimeout         *int64        `json:"connectTimeout,omitempty"`
	TLSTimeout             *int64        `json:"tlsTimeout,omitempty"`
	TCPKeepAlive           *int64        `json:"tcpKeepAlive,omitempty"`
	NoHappyEyeballs        *bool         `json:"noHappyEyeballs,omitempty"`
	KeepAliveConnections   *int64        `json:"keepAliveConnections,omitempty"`
	KeepAliveTimeout       *int64        `json:"keepAliveTimeout,omitempty"`
	HTTPHostHeader         *string       `json:"httpHostHeader,omitempty"`
	OriginServerName       *string       `json:"originServerName,omitempty"`
	MatchSNIToHost         *bool         `json:"matchSNItoHost,omitempty"`
	CAPool                 *string       `json:"caPool,omitempty"`
	NoTLSVerify            *bool         `json:"noTLSVerify,omitempty"`
	DisableChunkedEncoding *bool         `json:"disableChunkedEncoding,omitempty"`
	BastionMode            *bool         `json:"bastionMode,omitempty"`
	ProxyAddress           *string       `json:"proxyAddress,omitempty"`
	ProxyPort              *int64        `json:"proxyPort,omitempty"`
	ProxyType              *string       `json:"proxyType,omitempty"`
	IPRules                []IPRule      `json:"ipRules,omitempty"`
	HTTP2Origin            *bool         `json:"http2Origin,omitempty"`
	Access                 *OriginAccess `json:"access,omitempty"`
}

// IPRule is one entry of cloudflared's ipRules (socks-proxy services).
type IPRule struct {
	Prefix string  `json:"prefix"`
	Ports  []int64 `json:"ports,omitempty"`
	Allow  bool    `json:"allow"`
}

// OriginAccess is cloudflared's own Access JWT check on the origin side.
type OriginAccess struct {
	Required *bool    `json:"required,omitempty"`
	TeamName string   `json:"teamName,omitempty"`
	AUDTag   []string `json:"audTag,omitempty"`
}

// AccessTemplate is one `<prefix>.access.<name>.*` block: a Zero Trust Access
// application and policy, bound to hostnames by `access=<name>` on dns and
// tunnel services.
type AccessTemplate struct {
	Name            string       `json:"name"`
	AppName         string       `json:"appName"`
	SessionDuration string       `json:"sessionDuration"`
	Policy          AccessPolicy `json:"policy"`
}

// AccessPolicy is the reusable policy a template creates.
type AccessPolicy struct {
	Name string `json:"name"`
	// Decision in Cloudflare's words: allow, deny, bypass or non_identity.
	Decision string       `json:"decision"`
	Include  []AccessRule `json:"include"`
	Require  []AccessRule `json:"require,omitempty"`
	Exclude  []AccessRule `json:"exclude,omitempty"`
}

// AccessRule is one Cloudflare Access rule: a selector and, for selectors
// that take one, a single value (one rule per comma-separated value).
type AccessRule struct {
	Selector string `json:"selector"`
	Value    string `json:"value,omitempty"`
}
