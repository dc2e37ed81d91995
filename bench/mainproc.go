package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a labelgate process (main or agent) started from the binary
// under test with its whole configuration in the environment, so its RSS
// and CPU are its own.
type Proc struct {
	Cmd     *exec.Cmd
	Pid     int
	Started time.Time
	LogPath string
	exited  chan struct{}
	err     error
}

// StartProc runs bin with env (and nothing inherited but PATH and HOME),
// its output appended to logPath.
func StartProc(bin string, env map[string]string, logPath string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the process log: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &Proc{Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // nothing was written to it
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p.Pid = cmd.Process.Pid
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close() // the process wrote to it directly; nothing of ours is buffered
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM and waits up to grace, then kills. It returns how long
// the graceful stop took.
func (p *Proc) Stop(grace time.Duration) (time.Duration, error) {
	began := time.Now()
	select {
	case <-p.exited:
		return 0, fmt.Errorf("process %d had already exited: %v", p.Pid, p.err)
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(began), nil
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return time.Since(began), fmt.Errorf("process %d did not stop within %v and was killed", p.Pid, grace)
	}
}

// Tail returns the last n lines of the process log.
func (p *Proc) Tail(n int) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read only
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// Overview is the part of main's GET /api/v1/overview the benchmarks read.
type Overview struct {
	Settled   bool           `json:"settled"`
	Hostnames map[string]int `json:"hostnames"`
	Agents    struct {
		Total  int `json:"total"`
		Online int `json:"online"`
	} `json:"agents"`
}

// APIClient reads main's HTTP API.
type APIClient struct {
	Base string
	HTTP *http.Client
}

// Overview reads the overview; the registry answers it after the messages
// queued before it, so a backlog shows as a slow answer.
func (c APIClient) Overview(ctx context.Context) (Overview, error) {
	var ov Overview
	err := c.getJSON(ctx, "/api/v1/overview", &ov)
	return ov, err
}

// Healthy reports whether /healthz answers 200.
func (c APIClient) Healthy(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close() // only the status is wanted
	return resp.StatusCode == http.StatusOK
}

// Readyz is main's /readyz answer: its checks by name.
type Readyz struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

// Readyz reads /readyz; a 503 (not ready) is an answer too, not an error.
func (c APIClient) Readyz(ctx context.Context) (Readyz, error) {
	var rz Readyz
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/readyz", nil)
	if err != nil {
		return rz, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return rz, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return rz, errors.New("GET /readyz: " + resp.Status)
	}
	return rz, json.NewDecoder(resp.Body).Decode(&rz)
}

func (c APIClient) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Metric reads the sum of a Prometheus metric's samples (every label set)
// from main's /metrics; missing is 0.
func (c APIClient) Metric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, errors.New("GET /metrics: " + resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != ' ' && rest[0] != '{' {
			continue // a longer name with this prefix
		}
		fs := strings.Fields(line)
		if v, err := strconv.ParseFloat(fs[len(fs)-1], 64); err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}
