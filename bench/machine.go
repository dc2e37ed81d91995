package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the figures were measured.
type Machine struct {
	Date      string `json:"date"`
	Cores     int    `json:"cores"`      // nproc
	MemTotal  int64  `json:"mem_total"`  // bytes, /proc/meminfo MemTotal
	CPU       string `json:"cpu"`        // /proc/cpuinfo model name
	Kernel    string `json:"kernel"`     // /proc/sys/kernel/osrelease
	GoVersion string `json:"go_version"` // of the harness
	Commit    string `json:"commit"`     // git describe of the tree measured
	Docker    string `json:"docker,omitempty"`
	// LoadAvg is /proc/loadavg's 1-, 5- and 15-minute load when the run
	// started (other work on the machine shows here).
	LoadAvg string `json:"load_avg"`
	// Command is how the run that measured on it was started.
	Command string `json:"command,omitempty"`
}

// DescribeMachine reads the machine's description.
func DescribeMachine() Machine {
	m := Machine{
		Date:      time.Now().UTC().Format("2006-01-02"),
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
	}
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.Cores = n
		}
	}
	m.MemTotal = meminfo("MemTotal")
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if fs := strings.Fields(string(b)); len(fs) >= 3 {
			m.LoadAvg = strings.Join(fs[:3], " ")
		}
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close() // read only
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}} ({{.Server.Os}})").Output(); err == nil {
		m.Docker = strings.TrimSpace(string(out))
	}
	return m
}

// meminfo returns a /proc/meminfo field in bytes, 0 if unknown.
func meminfo(field string) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		return n * 1024 // kB
	}
	return 0
}

// String is the one-line description used in the document.
func (m Machine) String() string {
	s := fmt.Sprintf("%d cores (nproc), %.1f GiB RAM (MemTotal)", m.Cores, float64(m.MemTotal)/(1<<30))
	if m.CPU != "" {
		s += ", " + m.CPU
	}
	s += ", Linux " + m.Kernel + ", " + m.GoVersion
	if m.Docker != "" {
		s += ", Docker " + m.Docker
	}
	if m.LoadAvg != "" {
		s += "; load average " + m.LoadAvg + " at the start"
	}
	return s
}
