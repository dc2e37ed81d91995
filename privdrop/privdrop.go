package privdrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// UID and GID are the image's unprivileged user and group.
const (
	UID = 65532
	GID = 65532
)

// DefaultSocket is the Docker socket when no unix:// endpoint is set.
const DefaultSocket = "/var/run/docker.sock"

// DefaultDataDir is LABELGATE_DATA_DIR's default (config.DefaultDataDir).
const DefaultDataDir = "/app/config"

// Needs says what a subcommand uses.
type Needs struct {
	// Docker: the command talks to the Docker engine (run, demo): join the
	// socket's group; as a non-root user, fail if the socket is unusable.
	Docker bool
	// DataDir: the command writes the data directory (run): make it 65532's.
	DataDir bool
}

// SocketPath is the unix socket the Docker client will use, from the
// environment the way config.Load reads it: LABELGATE_DOCKER_ENDPOINT, else
// DOCKER_HOST, else DefaultSocket. "" means no socket (a tcp:// endpoint).
func SocketPath(env map[string]string) string {
	ep := env["LABELGATE_DOCKER_ENDPOINT"]
	if ep == "" {
		ep = env["DOCKER_HOST"]
	}
	if ep == "" {
		return DefaultSocket
	}
	if p, ok := strings.CutPrefix(ep, "unix://"); ok {
		return p
	}
	return ""
}

// DataDir is LABELGATE_DATA_DIR, else DefaultDataDir.
func DataDir(env map[string]string) string {
	if d := env["LABELGATE_DATA_DIR"]; d != "" {
		return d
	}
	return DefaultDataDir
}

// Owner is a file's owner, group and permission bits.
type Owner struct {
	UID, GID int
	Mode     fs.FileMode
	Symlink  bool
}

// Facts are what Decide needs to know about the process and its files.
type Facts struct {
	UID, GID int
	Groups   []int // supplementary groups

	Needs Needs

	Socket      string // "" when the endpoint is not a unix socket
	SocketFound bool
	SocketOwner Owner

	DataDir      string
	DataDirFound bool
	DataDirOwner Owner
}

// Plan is what Apply does.
type Plan struct {
	// Drop: become UID:GID with Groups as the supplementary groups.
	Drop   bool
	Groups []int
	// Chown: the data directory tree to give to UID:GID ("" for none).
	Chown string
	// Notes are for the log: what was decided and why.
	Notes []string
}

// Decide turns facts into a plan, or an error for a non-root user who cannot
// use the Docker socket.
func Decide(f Facts) (Plan, error) {
	if f.UID != 0 {
		// An explicit user: respected as it is.
		if f.Needs.Docker && f.Socket != "" && f.SocketFound && !CanUse(f.SocketOwner, f.UID, f.GID, f.Groups) &&
			!CanUse(f.SocketOwner, f.UID, f.SocketOwner.GID, nil) {
			return Plan{}, fmt.Errorf("running as uid %d, which cannot use the Docker socket %s (owner %d:%d, mode %s), and its group could not either: "+
				"make the socket group-readable and -writable (mode 0660), or point LABELGATE_DOCKER_ENDPOINT at a socket proxy",
				f.UID, f.Socket, f.SocketOwner.UID, f.SocketOwner.GID, f.SocketOwner.Mode.Perm())
		}
		if f.Needs.Docker && f.Socket != "" && f.SocketFound && !CanUse(f.SocketOwner, f.UID, f.GID, f.Groups) {
			return Plan{}, fmt.Errorf("running as uid %d (an explicit --user / compose user:), which cannot use the Docker socket %s (owner %d:%d, mode %s): "+
				`add the socket's group — compose: group_add: ["%d"], docker run: --group-add %d — or run without user: and the image joins it by itself`,
				f.UID, f.Socket, f.SocketOwner.UID, f.SocketOwner.GID, f.SocketOwner.Mode.Perm(), f.SocketOwner.GID, f.SocketOwner.GID)
		}
		return Plan{Notes: []string{fmt.Sprintf("running as uid %d as given (--user); no privileges to drop", f.UID)}}, nil
	}
	p := Plan{Drop: true, Groups: []int{}}
	switch {
	case !f.Needs.Docker:
	case f.Socket == "":
		p.Notes = append(p.Notes, "the Docker endpoint is not a unix socket; no socket group joined")
	case !f.SocketFound:
		p.Notes = append(p.Notes, fmt.Sprintf("no Docker socket at %s; no socket group joined", f.Socket))
	case f.SocketOwner.GID == GID:
		p.Notes = append(p.Notes, fmt.Sprintf("the Docker socket %s belongs to group %d already", f.Socket, GID))
	default:
		p.Groups = append(p.Groups, f.SocketOwner.GID)
		p.Notes = append(p.Notes, fmt.Sprintf("joining group %d, the owner of the Docker socket %s", f.SocketOwner.GID, f.Socket))
	}
	if f.Needs.Docker && f.Socket != "" && f.SocketFound && !CanUse(f.SocketOwner, UID, GID, p.Groups) {
		p.Notes = append(p.Notes, fmt.Sprintf("warning: the Docker socket %s (owner %d:%d, mode %s) will not be usable by %d even with its group; make it group-readable and -writable",
			f.Socket, f.SocketOwner.UID, f.SocketOwner.GID, f.SocketOwner.Mode.Perm(), UID))
	}
	if f.Needs.DataDir && f.DataDir != "" && f.DataDirFound {
		switch {
		case f.DataDirOwner.Symlink:
			p.Notes = append(p.Notes, fmt.Sprintf("warning: the data directory %s is a symbolic link; not changing its owner", f.DataDir))
		case f.DataDirOwner.UID != UID || f.DataDirOwner.GID != GID:
			p.Chown = f.DataDir
			p.Notes = append(p.Notes, fmt.Sprintf("giving the data directory %s (owner %d:%d) to %d:%d", f.DataDir, f.DataDirOwner.UID, f.DataDirOwner.GID, UID, GID))
		}
	}
	p.Notes = append(p.Notes, fmt.Sprintf("dropping root: running as %d:%d, supplementary groups %v", UID, GID, p.Groups))
	return p, nil
}

// CanUse says whether uid (with gid and groups) may read and write a file
// with owner o, by its permission bits. (access(2) would say no for W_OK on
// a socket mounted :ro, which is still connectable.)
func CanUse(o Owner, uid, gid int, groups []int) bool {
	const rw = 0o6
	perm := uint32(o.Mode.Perm())
	switch {
	case uid == 0:
		return true
	case uid == o.UID:
		return (perm>>6)&rw == rw
	case gid == o.GID || slices.Contains(groups, o.GID):
		return (perm>>3)&rw == rw
	default:
		return perm&rw == rw
	}
}

// Sys is the system under Gather and Apply; Real is the real one.
type Sys struct {
	Getuid, Getgid, Geteuid, Getegid func() int
	Getgroups                        func() ([]int, error)
	Lstat, Stat                      func(string) (os.FileInfo, error)
	Lchown                           func(string, int, int) error
	WalkDir                          func(string, fs.WalkDirFunc) error
	Setgroups                        func([]int) error
	Setgid, Setuid                   func(int) error
}

// Real is the process's own system.
var Real = Sys{
	Getuid: os.Getuid, Getgid: os.Getgid, Geteuid: os.Geteuid, Getegid: os.Getegid,
	Getgroups: os.Getgroups, Lstat: os.Lstat, Stat: os.Stat, Lchown: os.Lchown, WalkDir: filepath.WalkDir,
	Setgroups: syscall.Setgroups, Setgid: syscall.Setgid, Setuid: syscall.Setuid,
}

func ownerOf(fi os.FileInfo) (Owner, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Owner{}, false
	}
	return Owner{UID: int(st.Uid), GID: int(st.Gid), Mode: fi.Mode(), Symlink: fi.Mode()&fs.ModeSymlink != 0}, true
}

// Gather collects the facts for a command from the environment and the
// files it names.
func (s Sys) Gather(env map[string]string, needs Needs) Facts {
	f := Facts{UID: s.Getuid(), GID: s.Getgid(), Needs: needs, Socket: SocketPath(env), DataDir: DataDir(env)}
	f.Groups, _ = s.Getgroups()
	if needs.Docker && f.Socket != "" {
		if fi, err := s.Stat(f.Socket); err == nil {
			f.SocketOwner, f.SocketFound = ownerOf(fi)
		}
	}
	if needs.DataDir {
		if fi, err := s.Lstat(f.DataDir); err == nil {
			f.DataDirOwner, f.DataDirFound = ownerOf(fi)
		}
	}
	return f
}

// Apply carries out a plan: the chown of the data directory tree (symbolic
// links themselves, never what they point to), then the supplementary
// groups, the group and the user, and checks the result.
func (s Sys) Apply(p Plan) error {
	if p.Chown != "" {
		err := s.WalkDir(p.Chown, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := s.Lstat(path)
			if err != nil {
				return err
			}
			if o, ok := ownerOf(fi); ok && o.UID == UID && o.GID == GID {
				return nil
			}
			return s.Lchown(path, UID, GID)
		})
		if err != nil {
			return fmt.Errorf("giving the data directory %s to %d:%d: %w (the container needs CAP_CHOWN, or give the directory to %d:%d beforehand)", p.Chown, UID, GID, err, UID, GID)
		}
	}
	if !p.Drop {
		return nil
	}
	// Without CAP_SETGID/CAP_SETUID (cap_drop: [ALL]) root cannot drop.
	const hint = "the container needs CAP_SETUID and CAP_SETGID to drop root, or run it with user: \"65532:65532\" and group_add: the socket's group"
	if err := s.Setgroups(p.Groups); err != nil {
		return fmt.Errorf("setting the supplementary groups %v: %w (%s)", p.Groups, err, hint)
	}
	if err := s.Setgid(GID); err != nil {
		return fmt.Errorf("setting the group %d: %w (%s)", GID, err, hint)
	}
	if err := s.Setuid(UID); err != nil {
		return fmt.Errorf("setting the user %d: %w (%s)", UID, err, hint)
	}
	if s.Getuid() != UID || s.Geteuid() != UID || s.Getgid() != GID || s.Getegid() != GID {
		return errors.New("dropping root did not take: still running with other ids")
	}
	if s.Setuid(0) == nil {
		return errors.New("dropping root did not take: could become root again")
	}
	return nil
}

// Run is the start-up step: gather, decide, apply. It returns the notes for
// the log.
func (s Sys) Run(env map[string]string, needs Needs) ([]string, error) {
	p, err := Decide(s.Gather(env, needs))
	if err != nil {
		return nil, err
	}
	if err := s.Apply(p); err != nil {
		return nil, fmt.Errorf("dropping root: %w", err)
	}
	return p.Notes, nil
}
