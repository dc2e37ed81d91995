// Package bridge is the main↔agent WebSocket protocol and transport: framing,
// mutual authentication, TLS, heartbeats and reconnect backoff for both
// connection modes. It is a plain library; the actors that own connections
// live elsewhere.
//
// It never parses container labels (main does that), never calls
// Cloudflare, keeps no global state and logs only through the *slog.Logger
// in Options (discarded by default).
//
// # Roles and modes
//
// Every connection pairs a main and an agent. Who dials is independent of
// who is who: in outbound mode the agent dials main (Dial with RoleAgent,
// main runs a Listener with RoleMain and one Key per agent); in inbound
// mode main dials the agent (Dial with RoleMain, the agent's Listener has
// RoleAgent and its single Key). A listener serves every path, so
// "wss://main-host:8081" works as written, as does ".../ws".
//
// # Frames
//
// JSON text frames in one envelope, {"type", "v": 1, "seq", "payload"}.
// seq counts each sender's frames on a connection from 1, handshake
// included. DecodeFrame is pure and refuses (ErrProtocol) unknown types,
// other versions, and payloads that do not validate. After the handshake an
// agent sends announce and snapshot, main sends ack and resync; anything
// else closes the connection with CodeProtocol. On main, a snapshot's
// Source is rewritten to messages.AgentSource(name of the matched key).
//
// # Handshake
//
// Dialer D, listener L, shared token T (at least 16 bytes):
//
//	D → L  hello{proto 1, role, nonce_d}        32 random bytes
//	L → D  challenge{nonce_l, role, binding}    binding: "tls-exporter" | "none"
//	D → L  auth{proof_d}     proof_d = HMAC-SHA256(T, "labelgate/1 dialer"   ‖ role_d ‖ nonce_d ‖ nonce_l ‖ ekm)
//	L → D  welcome{proof_l}  proof_l = HMAC-SHA256(T, "labelgate/1 listener" ‖ role_d ‖ nonce_d ‖ nonce_l ‖ ekm)
//
// Each field is length-prefixed. ekm is the TLS session's exported keying
// material ("EXPORTER-labelgate-bridge", 32 bytes) when the listener
// terminates TLS itself, empty otherwise. L checks proof_d against every
// candidate key with hmac.Equal, all of them every time; none matching →
// 4001, several matching → 4001 (a shared token names no one). Two agents
// or two mains → 4002. L's Accept callback may then refuse (4009 busy, or
// anything else). D checks proof_l; a mismatch means the listener does not
// hold T: D closes with 4003 and Dial returns ErrImpostor. Tokens never
// travel; nonces make every proof single-use. HandshakeTimeout bounds it
// all (4004).
//
// # TLS modes
//
// Decided per connection and reported in Peer.Mode:
//
//	dialer (wss://)                          mode         listener must bind its proof
//	CAFile set, chain verifies                verified     no (a reverse proxy may end TLS)
//	CAFile set, chain fails                   — refused, fail closed
//	Insecure                                 insecure     no
//	neither; chain verifies on system roots   verified     no
//	neither; authority unknown (self-signed)  token-bound  yes, else 4003 (ErrUnbound)
//	neither; known authority, other failure   — refused (wrong name, expired)
//	ws://                                    plaintext    —
//
//	listener                                 mode
//	TLS, client certificate verified (mTLS)   verified
//	TLS otherwise                            token-bound
//	plain                                    plaintext
//
// In token-bound mode a TLS-terminating man in the middle has one TLS
// session with each side, so the two sides' ekm differ and neither proof
// can be relayed: L refuses D's proof (4001). ServerTLSConfig generates a
// self-signed ECDSA certificate when none is configured, so the documented
// compose files (wss:// and no certificate anywhere) work and are safe.
// SniffTLS lets one port serve wss:// and ws:// dialers (or only wss://).
//
// # Liveness, back-pressure, size
//
// Each side pings every Heartbeat; any frame, frame chunk or pong renews the
// read deadline to 3 × Heartbeat, so a dead peer is found within three
// intervals (4005). Send queues up to SendQueue frames and waits at most
// SendTimeout for room; then the peer is too slow and the connection is
// closed (4006). A frame over MaxFrameBytes closes with 1009 and a reason;
// a realistic 2,000-container snapshot is about 2.5 MB of the default
// 8 MiB. See CloseCode for the full table.
//
// # Concurrency and ordering
//
// A Conn has exactly one writer goroutine: it sends queued frames in Send
// order, pings, pongs and the close frame; gorilla's own ping and close
// handlers, which would write from the reader, are replaced. The reader
// goroutine delivers frames on Recv in arrival order and closes Recv when
// the connection ends; Done closes after both goroutines have returned, and
// Err then says why (a *CloseError with the code, reason and which side
// closed, or a network error). Every Conn method is safe for concurrent
// use. A refused or failed frame never leaves the connection half-open.
//
// Backoff paces a reconnect loop: 1 s doubling to 60 s, each wait drawn from
// [base/2, base], back to 1 s after a connection that lasted 60 s, every
// wait stoppable by its context. One Backoff per loop; it is not shared.
package bridge
