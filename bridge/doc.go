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
//	D → L  hello{proto 2, role, nonce_d}        32 random bytes
//	L → D  challenge{nonce_l, role, binding}    binding: "tls-exporter" | "none"
//	D → L  auth{proof_d}     proof_d = HMAC-SHA256(T, "labelgate/2 dialer"   ‖ role_d ‖ nonce_d ‖ nonce_l ‖ binding ‖ ekm)
//	L → D  welcome{proof_l}  proof_l = HMAC-SHA256(T, "labelgate/2 listener" ‖ role_d ‖ nonce_d ‖ nonce_l ‖ binding ‖ ekm)
//
// Each field is length-prefixed. ekm is the TLS session's exported keying
// material ("EXPORTER-labelgate-bridge", 32 bytes) when the listener
// terminates TLS itself, empty otherwise. The binding the listener announced
// is part of both proofs, so a relay that rewrote it makes them differ. A
// peer that speaks handshake protocol 1 (proofs without the binding) is
// refused with 4002 and a reason that names the protocol. L checks proof_d against every
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
//	Insecure                                 insecure     yes, else 4003 (ErrUnbound)
//	neither; chain verifies on system roots   verified     no
//	neither; authority unknown (self-signed)  token-bound  yes, else 4003 (ErrUnbound)
//	neither; known authority, other failure   — refused (wrong name, expired)
//	ws://                                    plaintext    —
//
// Only a verified certificate vouches for the listener on its own. Without
// one, a relay that ended the dialer's TLS and forwarded in clear could read
// and change every frame after the handshake, so the proof must be bound to
// the dialer's own TLS session — in insecure mode too.
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
// compose files (wss:// and no certificate anywhere) work and are safe. A
// Listener with ListenConfig.TLS serves wss:// and ws:// dialers on one port
// (or only wss:// with RequireTLS).
//
// # The listener's port
//
// Serve owns the port through a gate: the accept loop retries every error
// but a closed listener (too many open files, say) with backoff from 5 ms
// to 1 s, logs it at WARN once per 10 s, and Health reports it until an
// accept succeeds. Connections that have not authenticated are capped in
// all (MaxPending, 256) and per remote address (MaxPendingPerAddress, 32;
// an IPv6 /64 is one address); one over a cap is closed at once. Each has an
// absolute deadline of HandshakeTimeout from its TCP accept — TLS, HTTP
// upgrade and the four frames — that nothing the peer sends extends (pings
// are neither answered nor renew anything before the handshake), with a
// backstop that closes the socket closeWait later whatever state it is in.
// The HTTP server has read, write and idle timeouts, 8 KiB of headers, and
// no keep-alive. Failed handshakes log through a rate-limited line (a few,
// then a summary every 10 s).
//
// # Liveness, back-pressure, size
//
// Each side pings every Heartbeat; after the handshake, any frame, frame
// chunk, ping or pong renews the read deadline to 3 × Heartbeat, so a dead peer is found within three
// intervals (4005). Send queues up to SendQueue frames and waits at most
// SendTimeout for room; then the peer is too slow and the connection is
// closed (4006). A frame over MaxFrameBytes closes with 1009 and a reason;
// a realistic 2,000-container snapshot is about 2.5 MB of the default
// 8 MiB. Announce fields have length caps (MaxAnnounceHostname, …); an agent
// cuts its own with TruncateAnnounce. See CloseCode for the full table.
//
// # Concurrency and ordering
//
// A Conn has exactly one writer goroutine: it sends queued frames in Send
// order, pings, pongs and the close frame; gorilla's own ping and close
// handlers, which would write from the reader, are replaced. The reader
// goroutine delivers frames on Recv (one frame of buffer, so a peer's frames
// wait in the socket, not in memory) in arrival order and closes Recv when
// the connection ends; Done closes after both goroutines have returned, and
// Err then says why (a *CloseError with the code, reason and which side
// closed, or a network error). Every Conn method is safe for concurrent
// use. A refused or failed frame never leaves the connection half-open.
//
// Backoff paces a reconnect loop: 1 s doubling to 60 s, each wait drawn from
// [base/2, base], back to 1 s after a connection that lasted 60 s, every
// wait stoppable by its context. One Backoff per loop; it is not shared.
//
// # Running both ends
//
// StartRedial is the one reconnect loop, for whichever side dials: it dials
// (each attempt bounded by HandshakeTimeout), hands the connection to a
// callback, waits for it to end, waits its Backoff and dials again, and
// reports failed attempts and ended connections through callbacks; its stop
// closes an open connection with 1001. ServePort is the one start-up of a
// listening side: a Listener served on a TCP port in the background, with
// Health and a callback for a failure for good. The callbacks run on the
// helpers' goroutines, so an actor turns them into messages to itself
// instead of dialing or serving from its Receive.
package bridge
