package actors

import (
	"os/exec"
	"strings"
	"testing"
)

// TestActorsDoNotImportTheHTTPSurface keeps the edge from actors to the HTTP
// surface from coming back: actors (its tests included) depends neither on
// web nor on the packages that sit above it (surface, the Backend adapter;
// metrics, which the actors see only through their own interfaces).
// `make lint` checks the same.
func TestActorsDoNotImportTheHTTPSurface(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-test", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/labelgate/labelgate/"
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		for _, banned := range []string{"web", "surface", "metrics"} {
			if dep == module+banned || strings.HasPrefix(dep, module+banned+"/") {
				t.Errorf("actors depends on %s", dep)
			}
		}
	}
}
