package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// More of the engine for the containerised scenarios: volumes, parallel
// starts, inspection, exec and file reads. Like the rest of Env, every method
// fails the test on an engine error and everything it creates is removed in
// t.Cleanup.

// SocketPath is the Docker socket on this machine, mounted into main and the
// agents.
const SocketPath = "/var/run/docker.sock"

// SocketGID is the group id of the Docker socket: the group a non-root
// container needs (GroupAdd) to read it.
func (e *Env) SocketGID() string {
	e.t.Helper()
	fi, err := os.Stat(SocketPath)
	if err != nil {
		e.t.Fatalf("the Docker socket: %v", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		e.t.Fatalf("cannot read the owner of %s on this platform", SocketPath)
	}
	return strconv.FormatUint(uint64(st.Gid), 10)
}

// Volume creates a named volume (removed at cleanup, after the containers
// created later) and returns its name.
func (e *Env) Volume(name string) string {
	e.t.Helper()
	full := e.Name(name)
	if _, err := e.Docker.VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: full, Labels: map[string]string{RunLabel: e.Run}}); err != nil {
		e.t.Fatalf("creating volume %s: %v", full, err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = e.Docker.VolumeRemove(ctx, full, client.VolumeRemoveOptions{Force: true})
	})
	return full
}

// StartAll starts containers four at a time and returns their ids in the
// order given.
func (e *Env) StartAll(cs []Container) []string {
	e.t.Helper()
	return e.StartAllAsync(cs)()
}

// StartAllAsync is StartAll in the background, so the test can act while
// the containers come up. The returned function waits for them, fails the
// test if any could not be started, and returns their ids.
func (e *Env) StartAllAsync(cs []Container) (wait func() []string) {
	ids := make([]string, len(cs))
	errs := make([]error, len(cs))
	done := make(chan struct{})
	go func() {
		defer close(done)
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ids[i], errs[i] = e.start(c)
			}()
		}
		wg.Wait()
	}()
	return func() []string {
		e.t.Helper()
		<-done
		if err := errors.Join(errs...); err != nil {
			e.t.Fatal(err)
		}
		return ids
	}
}

// Inspect is `docker inspect` of a container.
func (e *Env) Inspect(id string) container.InspectResponse {
	e.t.Helper()
	res, err := e.Docker.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		e.t.Fatalf("inspecting %s: %v", id, err)
	}
	return res.Container
}

// HealthStatus is the container's health as Docker reports it ("starting",
// "healthy", "unhealthy"), or "" without a HEALTHCHECK.
func (e *Env) HealthStatus(id string) string {
	e.t.Helper()
	st := e.Inspect(id).State
	if st == nil || st.Health == nil {
		return ""
	}
	return string(st.Health.Status)
}

// ImageInspect is `docker image inspect`.
func (e *Env) ImageInspect(ref string) image.InspectResponse {
	e.t.Helper()
	res, err := e.Docker.ImageInspect(context.Background(), ref)
	if err != nil {
		e.t.Fatalf("inspecting image %s: %v", ref, err)
	}
	return res.InspectResponse
}

// Exec runs a command in a running container and returns its exit code and
// combined output.
func (e *Env) Exec(id string, cmd ...string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := e.Docker.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		e.t.Fatalf("exec %v in %s: %v", cmd, id, err)
	}
	att, err := e.Docker.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		e.t.Fatalf("exec %v in %s: %v", cmd, id, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if err := demux(&out, att.Reader); err != nil {
		e.t.Fatalf("reading the output of %v: %v", cmd, err)
	}
	for {
		res, err := e.Docker.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			e.t.Fatalf("exec %v in %s: %v", cmd, id, err)
		}
		if !res.Running {
			return res.ExitCode, out.String()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// demux copies Docker's multiplexed stdout/stderr stream (8-byte frame
// headers) into w.
func demux(w io.Writer, r io.Reader) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		n := int64(hdr[4])<<24 | int64(hdr[5])<<16 | int64(hdr[6])<<8 | int64(hdr[7])
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

// ProcessIDs lists "uid gid" of every process in the container (docker top).
func (e *Env) ProcessIDs(id string) []string {
	e.t.Helper()
	// Docker needs the pid column to map ps output to the container.
	res, err := e.Docker.ContainerTop(context.Background(), id, client.ContainerTopOptions{Arguments: []string{"-o", "pid,uid,gid"}})
	if err != nil {
		e.t.Fatalf("docker top %s: %v", id, err)
	}
	var out []string
	for _, p := range res.Processes {
		if len(p) == 3 {
			out = append(out, p[1]+" "+p[2])
		}
	}
	if len(out) == 0 {
		e.t.Fatalf("docker top %s: no processes in %v", id, res.Processes)
	}
	return out
}

// FileEntry is one entry of a path copied out of a container.
type FileEntry struct {
	Name     string
	Mode     int64
	UID, GID int
	Dir      bool
	Data     []byte
}

// CopyOut reads a path (file or directory) out of a container, running or
// not, as `docker cp` does.
func (e *Env) CopyOut(id, path string) []FileEntry {
	e.t.Helper()
	res, err := e.Docker.CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		e.t.Fatalf("copying %s out of %s: %v", path, id, err)
	}
	defer func() { _ = res.Content.Close() }() // read only
	var out []FileEntry
	tr := tar.NewReader(res.Content)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			e.t.Fatalf("reading %s of %s: %v", path, id, err)
		}
		data, err := io.ReadAll(io.LimitReader(tr, 8<<20))
		if err != nil {
			e.t.Fatalf("reading %s of %s: %v", h.Name, id, err)
		}
		out = append(out, FileEntry{Name: h.Name, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Dir: h.Typeflag == tar.TypeDir, Data: data})
	}
}

// LogsOnFailure prints the last lines of a container's output if the test
// fails. Call it right after starting the container: cleanups run last
// registered first, so this runs before the container is removed.
func (e *Env) LogsOnFailure(name, id string) {
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("--- last output of %s ---\n%s", name, e.TailLogs(id, 400))
		}
	})
}

// TailLogs returns the last n lines of a container's output.
func (e *Env) TailLogs(id string, n int) string {
	rc, err := e.Docker.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return err.Error()
	}
	defer func() { _ = rc.Close() }() // read only
	var out bytes.Buffer
	if err := demux(&out, rc); err != nil {
		out.WriteString("\n(reading the logs: " + err.Error() + ")")
	}
	return out.String()
}

// ownerOfHost is a host file's "uid:gid".
func ownerOfHost(fi os.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return strconv.FormatUint(uint64(st.Uid), 10) + ":" + strconv.FormatUint(uint64(st.Gid), 10), true
}
