package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration. It names where the
// value comes from in both forms, so the operator can fix it whichever way
// they configure labelgate.
type Problem struct {
	Env     string // environment variable, e.g. LABELGATE_DOCKER_POLL_INTERVAL ("" if none)
	Key     string // file key, e.g. docker.poll_interval ("" if none)
	File    string // the YAML file, when the problem was found in it
	Line    int    // line in File (0 if unknown)
	Message string // what is wrong and what is allowed
}

// String renders the problem as one line, e.g.
// `docker.poll_interval (LABELGATE_DOCKER_POLL_INTERVAL): must be greater than zero`.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	switch {
	case p.Key != "" && p.Env != "":
		fmt.Fprintf(&b, "%s (%s): ", p.Key, p.Env)
	case p.Key != "":
		fmt.Fprintf(&b, "%s: ", p.Key)
	case p.Env != "":
		fmt.Fprintf(&b, "%s: ", p.Env)
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError carries every problem Load found, so that one start-up
// attempt reports all of them.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid configuration: 1 problem:")
	} else {
		fmt.Fprintf(&b, "invalid configuration: %d problems:", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems in the order they are found.
type problems []Problem

// add records a problem on a file key; the variable is derived from the key.
func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Env: envFor(key), Key: key, Message: fmt.Sprintf(format, args...)})
}

// problemList is an error made of problems; it travels through the env
// library's error values and is unpacked again by Load.
type problemList []Problem

func (pl problemList) Error() string {
	parts := make([]string, len(pl))
	for i, p := range pl {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}
