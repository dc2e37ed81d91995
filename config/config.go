package config

import (
	"log/slog"
	"path/filepath"
	"time"
)

// Names the rest of the program and the documentation rely on.
const (
	// EnvPrefix starts every environment variable labelgate reads.
	EnvPrefix = "LABELGATE_"
	// FileEnv names the environment variable holding the path of the YAML file.
	FileEnv = "LABELGATE_CONFIG"
	// DefaultFile is read when FileEnv is unset; a missing default file is fine.
	DefaultFile = "/etc/labelgate/labelgate.yaml"
	// DefaultTunnelName is the tunnel defined by cloudflare.account_id + cloudflare.tunnel_id.
	DefaultTunnelName = "default"
	// DefaultCredentialName is the credential defined by cloudflare.api_token.
	DefaultCredentialName = "default"
	// DefaultDataDir is the default of data_dir.
	DefaultDataDir = "/app/config"
	// DBFile is the name of the database in data_dir when db.path is empty.
	DBFile = "labelgate.db"
	// MinTokenLength is the shortest token accepted for main↔agent
	// connections and for the HTTP API (api.token).
	MinTokenLength = 16
)

// Mode selects the role of the process.
type Mode string

// The two roles.
const (
	ModeMain  Mode = "main"
	ModeAgent Mode = "agent"
)

// ConnectMode says which side of a main↔agent connection dials.
type ConnectMode string

// The two connection directions.
const (
	ConnectOutbound ConnectMode = "outbound" // the agent dials main
	ConnectInbound  ConnectMode = "inbound"  // main dials the agent
)

// SyncPolicy limits which changes main may write to Cloudflare.
type SyncPolicy string

// The three policies.
const (
	PolicySync       SyncPolicy = "sync"        // create, update and delete
	PolicyUpsertOnly SyncPolicy = "upsert-only" // create and update, never delete
	PolicyCreateOnly SyncPolicy = "create-only" // create only
)

// Config is the whole configuration of one labelgate process.
//
// Every leaf field carries an `env` tag (the variable name after EnvPrefix and
// the envPrefix of its parents) and a `yaml` tag (its key in the file); the
// environment name is always the file key upper-cased with dots turned into
// underscores. The three map fields are read from the environment as inline
// YAML/JSON (see docs/configuration.md).
type Config struct {
	Mode          Mode   `env:"MODE" yaml:"mode"`
	LabelPrefix   string `env:"LABEL_PREFIX" yaml:"label_prefix"`
	LogLevel      string `env:"LOG_LEVEL" yaml:"log_level"`
	LogFormat     string `env:"LOG_FORMAT" yaml:"log_format"`
	DefaultTunnel string `env:"DEFAULT_TUNNEL" yaml:"default_tunnel"`
	// DataDir is the directory of main's state: the SQLite database (unless
	// DB.Path names one) and files main generates. See DBPath.
	DataDir string `env:"DATA_DIR" yaml:"data_dir"`
	// DryRun makes main plan and log every change and write nothing to
	// Cloudflare.
	DryRun bool `env:"DRY_RUN" yaml:"dry_run"`

	Docker     Docker     `envPrefix:"DOCKER_" yaml:"docker"`
	Cloudflare Cloudflare `envPrefix:"CLOUDFLARE_" yaml:"cloudflare"`
	Sync       Sync       `envPrefix:"SYNC_" yaml:"sync"`
	DB         DB         `envPrefix:"DB_" yaml:"db"`
	API        API        `envPrefix:"API_" yaml:"api"`
	Agent      Agent      `envPrefix:"AGENT_" yaml:"agent"`
	Connect    Connect    `envPrefix:"CONNECT_" yaml:"connect"`
	Access     Access     `envPrefix:"ACCESS_" yaml:"access"`
}

// Access is main's own Zero Trust Access configuration.
type Access struct {
	// Templates are Access templates pinned in main's configuration: by
	// template name, the properties of a `labelgate.access.<name>.*` label
	// block (policy.decision, policy.include.emails, …) and their values.
	// A pinned template protects the hostnames of every source that binds
	// it, and no container label can redefine it.
	Templates map[string]map[string]string `env:"TEMPLATES" yaml:"templates"`
	// Credential names the credential that manages the Access account's
	// applications and policies; empty lets CredentialRules choose (see
	// AccessTarget).
	Credential string `env:"CREDENTIAL" yaml:"credential"`
}

// Docker is the local Docker engine labelgate watches.
type Docker struct {
	Endpoint     string        `env:"ENDPOINT" yaml:"endpoint"`
	PollInterval time.Duration `env:"POLL_INTERVAL" yaml:"poll_interval"`
	FilterLabel  string        `env:"FILTER_LABEL" yaml:"filter_label"`
	TLS          DockerTLS     `envPrefix:"TLS_" yaml:"tls"`
	Debounce     time.Duration `env:"DEBOUNCE" yaml:"debounce"`
	// Swarm is auto, true or false: whether the services of the engine's
	// Swarm are a source beside its containers (dockerwatch.SwarmMode).
	// Empty is the mode's default (SwarmFor).
	Swarm string `env:"SWARM" yaml:"swarm"`
}

// SwarmFor is the docker.swarm setting in effect for a process of mode:
// the value given, else auto on main and false on an agent. An agent on a
// manager of main's own swarm would report every service a second time,
// so an agent reports services only when told to.
func (d Docker) SwarmFor(mode Mode) string {
	switch {
	case d.Swarm != "":
		return d.Swarm
	case mode == ModeAgent:
		return "false"
	}
	return "auto"
}

// DockerTLS holds PEM file paths for a tcp:// Docker endpoint.
type DockerTLS struct {
	CA   string `env:"CA" yaml:"ca"`
	Cert string `env:"CERT" yaml:"cert"`
	Key  string `env:"KEY" yaml:"key"`
}

// Cloudflare is everything main needs to call the Cloudflare API.
type Cloudflare struct {
	APIToken          Secret                `env:"API_TOKEN" yaml:"api_token"`
	APITokenFile      string                `env:"API_TOKEN_FILE" yaml:"api_token_file"`
	AccountID         string                `env:"ACCOUNT_ID" yaml:"account_id"`
	TunnelID          string                `env:"TUNNEL_ID" yaml:"tunnel_id"`
	APIURL            string                `env:"API_URL" yaml:"api_url"`
	RequestsPerSecond float64               `env:"REQUESTS_PER_SECOND" yaml:"requests_per_second"`
	Burst             int                   `env:"BURST" yaml:"burst"`
	CommentLimit      int                   `env:"COMMENT_LIMIT" yaml:"comment_limit"`
	BatchSize         int                   `env:"BATCH_SIZE" yaml:"batch_size"`
	Credentials       map[string]Credential `env:"CREDENTIALS" yaml:"credentials"`
	Tunnels           map[string]Tunnel     `env:"TUNNELS" yaml:"tunnels"`
}

// Credential is a named Cloudflare API token and the zones it is meant for.
type Credential struct {
	APIToken     Secret   `yaml:"api_token"`
	APITokenFile string   `yaml:"api_token_file"`
	Zones        []string `yaml:"zones"`
}

// Tunnel names one Cloudflare Tunnel and the credential that manages it.
type Tunnel struct {
	AccountID  string `yaml:"account_id"`
	TunnelID   string `yaml:"tunnel_id"`
	Credential string `yaml:"credential"`
}

// Sync tunes how main reconciles the desired state with Cloudflare.
type Sync struct {
	RemoveDelay      time.Duration `env:"REMOVE_DELAY" yaml:"remove_delay"`
	Interval         time.Duration `env:"INTERVAL" yaml:"interval"`
	Policy           SyncPolicy    `env:"POLICY" yaml:"policy"`
	SettleTimeout    time.Duration `env:"SETTLE_TIMEOUT" yaml:"settle_timeout"`
	PublicIPInterval time.Duration `env:"PUBLIC_IP_INTERVAL" yaml:"public_ip_interval"`
	PublicIPSources  []string      `env:"PUBLIC_IP_SOURCES" yaml:"public_ip_sources"`
}

// DB is main's state store.
type DB struct {
	// Path is the SQLite database; "" means DBFile in Config.DataDir. Kept
	// for compatibility with the older labelgate; use Config.DBPath to get
	// the effective path.
	Path string `env:"PATH" yaml:"path"`
}

// API is main's HTTP API (ignored in agent mode).
type API struct {
	Enabled bool   `env:"ENABLED" yaml:"enabled"`
	Address string `env:"ADDRESS" yaml:"address"`
	// Token protects the API and the dashboard; like an agent's token it
	// must have at least MinTokenLength characters, since anyone who can
	// reach the port may guess it.
	Token     Secret `env:"TOKEN" yaml:"token"`
	TokenFile string `env:"TOKEN_FILE" yaml:"token_file"`
	// BehindTLS says that clients reach the API through a TLS-terminating
	// proxy: main itself sees plain HTTP, so it cannot tell from the request
	// that the session cookie must only travel over HTTPS.
	BehindTLS bool `env:"BEHIND_TLS" yaml:"behind_tls"`
}

// Agent is main's side of agent connections: the listener for outbound
// agents and the list of known agents.
type Agent struct {
	Enabled           bool          `env:"ENABLED" yaml:"enabled"`
	Listen            string        `env:"LISTEN" yaml:"listen"`
	TLS               AgentTLS      `envPrefix:"TLS_" yaml:"tls"`
	StaleTTL          time.Duration `env:"STALE_TTL" yaml:"stale_ttl"`
	HeartbeatInterval time.Duration `env:"HEARTBEAT_INTERVAL" yaml:"heartbeat_interval"`
	MaxFrameBytes     int64         `env:"MAX_FRAME_BYTES" yaml:"max_frame_bytes"`
	// RequireTLS refuses agent connections without TLS in both directions:
	// the listener answers ws:// with an HTTP 400, and a connect_to must be
	// wss://.
	RequireTLS bool `env:"REQUIRE_TLS" yaml:"require_tls"`
	// MaxPendingHandshakes caps the connections on the agent port that have
	// not authenticated yet, in all and per remote address (an IPv6 /64
	// counts as one address).
	MaxPendingHandshakes           int                   `env:"MAX_PENDING_HANDSHAKES" yaml:"max_pending_handshakes"`
	MaxPendingHandshakesPerAddress int                   `env:"MAX_PENDING_HANDSHAKES_PER_ADDRESS" yaml:"max_pending_handshakes_per_address"`
	Agents                         map[string]AgentEntry `env:"AGENTS" yaml:"agents"`
}

// AgentTLS holds PEM file paths for main's agent listener.
type AgentTLS struct {
	Cert     string `env:"CERT" yaml:"cert"`
	Key      string `env:"KEY" yaml:"key"`
	ClientCA string `env:"CLIENT_CA" yaml:"client_ca"`
}

// AgentEntry is one agent main knows, keyed by its name in Agent.Agents.
type AgentEntry struct {
	Token         Secret `yaml:"token"`
	TokenFile     string `yaml:"token_file"`
	DefaultTunnel string `yaml:"default_tunnel"`
	ConnectTo     string `yaml:"connect_to"`
	TLSCA         string `yaml:"tls_ca"`
	TLSInsecure   bool   `yaml:"tls_insecure"`
	// AllowedHostnames restricts the hostnames the agent may claim to those
	// matching one of these patterns (see MatchHostname); empty means no
	// restriction.
	AllowedHostnames []string `yaml:"allowed_hostnames"`
	// AllowedTunnels restricts the tunnels the agent may use to these
	// configured tunnel names; empty means no restriction.
	AllowedTunnels []string `yaml:"allowed_tunnels"`
	// AllowedZones restricts the agent's hostnames to these DNS zones (a
	// hostname is in a zone when it is the zone's name or ends with
	// "."+zone); empty means no restriction.
	AllowedZones []string `yaml:"allowed_zones"`
	// RequireTLS refuses this agent's connections without TLS: main drops a
	// plaintext connection that authenticated as it, and its connect_to must
	// be wss://.
	RequireTLS bool `yaml:"require_tls"`
}

// Inbound reports whether main dials this agent (connect_to is set).
func (a AgentEntry) Inbound() bool { return a.ConnectTo != "" }

// Connect is the agent's side of its connection to main.
type Connect struct {
	Mode              ConnectMode   `env:"MODE" yaml:"mode"`
	Endpoint          string        `env:"ENDPOINT" yaml:"endpoint"`
	Token             Secret        `env:"TOKEN" yaml:"token"`
	TokenFile         string        `env:"TOKEN_FILE" yaml:"token_file"`
	Listen            string        `env:"LISTEN" yaml:"listen"`
	TLS               ConnectTLS    `envPrefix:"TLS_" yaml:"tls"`
	HeartbeatInterval time.Duration `env:"HEARTBEAT_INTERVAL" yaml:"heartbeat_interval"`
	HealthListen      string        `env:"HEALTH_LISTEN" yaml:"health_listen"`
	// RequireTLS refuses a connection to main without TLS: in outbound mode
	// the endpoint must be wss://, in inbound mode the listener answers
	// ws:// with an HTTP 400.
	RequireTLS bool `env:"REQUIRE_TLS" yaml:"require_tls"`
}

// ConnectTLS holds the agent's TLS material and verification switch.
type ConnectTLS struct {
	CA       string `env:"CA" yaml:"ca"`
	Cert     string `env:"CERT" yaml:"cert"`
	Key      string `env:"KEY" yaml:"key"`
	Insecure bool   `env:"INSECURE" yaml:"insecure"`
}

// Defaults returns the configuration used where neither the file nor the
// environment says otherwise.
func Defaults() Config {
	return Config{
		Mode:          ModeMain,
		LabelPrefix:   "labelgate",
		LogLevel:      "info",
		LogFormat:     "text",
		DefaultTunnel: DefaultTunnelName,
		DataDir:       DefaultDataDir,
		Docker: Docker{
			Endpoint:     "unix:///var/run/docker.sock",
			PollInterval: 2 * time.Minute,
			Debounce:     500 * time.Millisecond,
		},
		Cloudflare: Cloudflare{
			APIURL:            "https://api.cloudflare.com/client/v4",
			RequestsPerSecond: 3,
			Burst:             10,
			CommentLimit:      100,
			BatchSize:         200,
		},
		Sync: Sync{
			RemoveDelay:      30 * time.Minute,
			Interval:         time.Hour,
			Policy:           PolicySync,
			SettleTimeout:    2 * time.Minute,
			PublicIPInterval: 5 * time.Minute,
			PublicIPSources:  []string{"https://cloudflare.com/cdn-cgi/trace", "https://icanhazip.com", "https://api64.ipify.org"},
		},
		API: API{
			Enabled: true,
			Address: ":8080",
		},
		Agent: Agent{
			Listen:            ":8081",
			StaleTTL:          24 * time.Hour,
			HeartbeatInterval: 15 * time.Second,
			MaxFrameBytes:     8 << 20,

			MaxPendingHandshakes:           256,
			MaxPendingHandshakesPerAddress: 32,
		},
		Connect: Connect{
			Mode:              ConnectOutbound,
			Listen:            ":8082",
			HeartbeatInterval: 15 * time.Second,
			HealthListen:      ":8083",
		},
	}
}

// DBPath returns the effective path of main's database: db.path when it is
// set, else DBFile in data_dir. It returns "" when both are empty, which Load
// rejects in main mode.
func (c Config) DBPath() string {
	switch {
	case c.DB.Path != "":
		return c.DB.Path
	case c.DataDir == "":
		return ""
	}
	return filepath.Join(c.DataDir, DBFile)
}

// SlogLevel converts the validated log level for log/slog.
func (c Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
