package main

import (
	"testing"

	"github.com/labelgate/labelgate/privdrop"
)

// The start-up step: the service needs the socket's group and its data
// directory; the image's HEALTHCHECK (run as root by Docker) and the tools
// drop root too but never chown anything.
func TestStartUpNeedsPerCommand(t *testing.T) {
	for cmd, want := range map[string]privdrop.Needs{
		"":            {Docker: true, DataDir: true},
		"run":         {Docker: true, DataDir: true},
		"demo":        {Docker: true},
		"healthcheck": {},
		"check":       {},
		"cfsim":       {},
		"hello":       {},
		"version":     {},
	} {
		var args []string
		if cmd != "" {
			args = []string{cmd, "--x"}
		}
		if got := needs(args); got != want {
			t.Errorf("needs(%q) = %+v, want %+v", cmd, got, want)
		}
	}
}
