package privdrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

var sock = Owner{UID: 0, GID: 999, Mode: fs.ModeSocket | 0o660}

func rootFacts() Facts {
	return Facts{UID: 0, GID: 0, Needs: Needs{Docker: true, DataDir: true},
		Socket: DefaultSocket, SocketFound: true, SocketOwner: sock,
		DataDir: DefaultDataDir, DataDirFound: true, DataDirOwner: Owner{UID: 0, GID: 0, Mode: fs.ModeDir | 0o755}}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Facts)
		drop   bool
		groups []int
		chown  string
		err    string
	}{
		{name: "root, socket and a root-owned volume: join the socket's group, chown, drop",
			change: func(*Facts) {}, drop: true, groups: []int{999}, chown: DefaultDataDir},
		{name: "data directory already 65532's: no chown",
			change: func(f *Facts) { f.DataDirOwner = Owner{UID: UID, GID: GID, Mode: fs.ModeDir | 0o755} },
			drop:   true, groups: []int{999}},
		{name: "only the group differs: chown",
			change: func(f *Facts) { f.DataDirOwner = Owner{UID: UID, GID: 0, Mode: fs.ModeDir | 0o755} },
			drop:   true, groups: []int{999}, chown: DefaultDataDir},
		{name: "data directory is a symbolic link: not followed",
			change: func(f *Facts) { f.DataDirOwner.Symlink = true }, drop: true, groups: []int{999}},
		{name: "no data directory",
			change: func(f *Facts) { f.DataDirFound = false }, drop: true, groups: []int{999}},
		{name: "no socket mounted (an inbound agent without one): no extra group",
			change: func(f *Facts) { f.SocketFound = false }, drop: true, groups: []int{}, chown: DefaultDataDir},
		{name: "tcp endpoint: no extra group",
			change: func(f *Facts) { f.Socket = ""; f.SocketFound = false }, drop: true, groups: []int{}, chown: DefaultDataDir},
		{name: "socket group is 65532's own: no extra group",
			change: func(f *Facts) { f.SocketOwner.GID = GID }, drop: true, groups: []int{}, chown: DefaultDataDir},
		{name: "healthcheck and the tools: drop, no group, no chown",
			change: func(f *Facts) { f.Needs = Needs{} }, drop: true, groups: []int{}},
		{name: "demo: the socket's group, no chown",
			change: func(f *Facts) { f.Needs = Needs{Docker: true} }, drop: true, groups: []int{999}},
		{name: "explicit user with the socket's group: left alone",
			change: func(f *Facts) { f.UID, f.GID, f.Groups = 65532, 65532, []int{999} }},
		{name: "explicit user owning a world-usable socket: left alone",
			change: func(f *Facts) { f.UID, f.GID = 1000, 1000; f.SocketOwner.Mode = fs.ModeSocket | 0o666 }},
		{name: "explicit user, no socket: left alone",
			change: func(f *Facts) { f.UID, f.GID = 65532, 65532; f.SocketFound = false }},
		{name: "explicit user, the healthcheck: no socket check",
			change: func(f *Facts) { f.UID, f.GID = 65532, 65532; f.Needs = Needs{} }},
		{name: "explicit user, a socket its group cannot use either: says so",
			change: func(f *Facts) { f.UID, f.GID = 65532, 65532; f.SocketOwner.Mode = fs.ModeSocket | 0o600 },
			err:    "make the socket group-readable and -writable"},
		{name: "explicit user without the socket's group: fails naming the fix",
			change: func(f *Facts) { f.UID, f.GID = 65532, 65532 },
			err:    `group_add: ["999"], docker run: --group-add 999 — or run without user:`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := rootFacts()
			c.change(&f)
			p, err := Decide(f)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Drop != c.drop || p.Chown != c.chown || (c.drop && !reflect.DeepEqual(p.Groups, c.groups)) {
				t.Fatalf("plan = %+v, want drop %v groups %v chown %q", p, c.drop, c.groups, c.chown)
			}
			if !c.drop && (p.Groups != nil || p.Chown != "") {
				t.Fatalf("an explicit user got %+v", p)
			}
		})
	}
}

func TestDecideWarnsWhenTheGroupCannotUseTheSocket(t *testing.T) {
	f := rootFacts()
	f.SocketOwner.Mode = fs.ModeSocket | 0o600
	p, err := Decide(f)
	if err != nil || !p.Drop || !strings.Contains(strings.Join(p.Notes, "\n"), "warning: the Docker socket") {
		t.Fatalf("plan %+v, err %v", p, err)
	}
}

func TestSocketPathAndDataDir(t *testing.T) {
	for env, want := range map[string]string{
		"": DefaultSocket,
		"LABELGATE_DOCKER_ENDPOINT=unix:///run/podman/podman.sock": "/run/podman/podman.sock",
		"LABELGATE_DOCKER_ENDPOINT=tcp://proxy:2375":               "",
		"DOCKER_HOST=unix:///tmp/d.sock":                           "/tmp/d.sock",
		"DOCKER_HOST=tcp://x:2375":                                 "",
	} {
		m := map[string]string{}
		if k, v, ok := strings.Cut(env, "="); ok {
			m[k] = v
		}
		if got := SocketPath(m); got != want {
			t.Errorf("SocketPath(%q) = %q, want %q", env, got, want)
		}
	}
	if got := SocketPath(map[string]string{"DOCKER_HOST": "tcp://x:1", "LABELGATE_DOCKER_ENDPOINT": "unix:///a.sock"}); got != "/a.sock" {
		t.Errorf("LABELGATE_DOCKER_ENDPOINT must win over DOCKER_HOST, got %q", got)
	}
	if DataDir(nil) != DefaultDataDir || DataDir(map[string]string{"LABELGATE_DATA_DIR": "/data"}) != "/data" {
		t.Error("DataDir")
	}
}

func TestCanUse(t *testing.T) {
	o := Owner{UID: 0, GID: 999, Mode: fs.ModeSocket | 0o660}
	if !CanUse(o, 65532, 65532, []int{999}) || CanUse(o, 65532, 65532, nil) || !CanUse(o, 0, 0, nil) {
		t.Fatal("group bits")
	}
	if !CanUse(o, 65532, 999, nil) {
		t.Fatal("primary group")
	}
	if CanUse(Owner{UID: 0, GID: 999, Mode: 0o640}, 65532, 65532, []int{999}) {
		t.Fatal("read-only group bits are not enough")
	}
	if !CanUse(Owner{UID: 1000, GID: 1000, Mode: 0o600}, 1000, 1, nil) {
		t.Fatal("owner bits")
	}
}

// fakeSys records the calls Apply makes; the files are a real temporary
// tree (Lstat, WalkDir), the ownership calls are recorded.
type fakeSys struct {
	calls []string
	uid   int
}

func (f *fakeSys) sys() Sys {
	rec := func(s string) { f.calls = append(f.calls, s) }
	return Sys{
		Getuid: func() int { return f.uid }, Geteuid: func() int { return f.uid },
		Getgid: func() int { return f.uid }, Getegid: func() int { return f.uid },
		Getgroups: func() ([]int, error) { return nil, nil },
		Lstat:     os.Lstat, Stat: os.Stat, WalkDir: filepath.WalkDir,
		Lchown: func(p string, u, g int) error { rec("lchown " + filepath.Base(p)); return nil },
		Setgroups: func(gs []int) error {
			rec(fmt.Sprint("setgroups ", gs))
			return nil
		},
		Setgid: func(g int) error { rec("setgid"); return nil },
		Setuid: func(u int) error {
			if u == 0 {
				return syscall.EPERM
			}
			rec("setuid")
			f.uid = u
			return nil
		},
	}
}

func TestApplyChownsTheTreeThenDrops(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "labelgate.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	f := &fakeSys{uid: 0}
	if err := f.sys().Apply(Plan{Drop: true, Groups: []int{7}, Chown: dir}); err != nil {
		t.Fatal(err)
	}
	want := []string{"lchown " + filepath.Base(dir), "lchown link", "lchown sub", "lchown labelgate.db", "setgroups [7]", "setgid", "setuid"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls = %q, want %q (the link itself, never what it points to)", f.calls, want)
	}
}

func TestApplyFailsWhenTheDropDoesNotTake(t *testing.T) {
	f := &fakeSys{uid: 0}
	s := f.sys()
	s.Setuid = func(int) error { return nil } // pretends, stays root
	if err := s.Apply(Plan{Drop: true, Groups: []int{}}); err == nil || !strings.Contains(err.Error(), "did not take") {
		t.Fatalf("err = %v", err)
	}
	s = f.sys()
	s.Setgroups = func([]int) error { return errors.New("EPERM") }
	if err := s.Apply(Plan{Drop: true}); err == nil {
		t.Fatal("a failed setgroups must fail")
	}
}

func TestRunAsExplicitUserDoesNothing(t *testing.T) {
	f := &fakeSys{uid: 1000}
	notes, err := f.sys().Run(map[string]string{"LABELGATE_DOCKER_ENDPOINT": "unix:///nonexistent.sock", "LABELGATE_DATA_DIR": t.TempDir()},
		Needs{Docker: true, DataDir: true})
	if err != nil || len(f.calls) != 0 || len(notes) != 1 {
		t.Fatalf("notes %q, err %v, calls %q", notes, err, f.calls)
	}
}
