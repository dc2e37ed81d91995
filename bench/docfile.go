package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Section is one `## Heading` section of docs/benchmarks.md.
type Section struct {
	Heading string // without the "## "
	Body    string // Markdown below the heading
}

// UpdateDoc replaces, in the Markdown file at path, each section of secs
// (from its `## Heading` line to the next `## ` line outside a code fence)
// and adds those the file does not have yet, in order, before the
// hand-written Findings section (which reads the others and stays last), or
// at the end. Everything else — the intro, other people's sections — is
// kept byte for byte. A missing file is created with intro.
func UpdateDoc(path, intro string, secs []Section) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = []byte(strings.TrimRight(intro, "\n")+"\n"), nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	out := replaceSections(string(raw), secs)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// findings is the heading of the hand-written section that stays last.
const findings = "Findings"

// replaceSections is UpdateDoc's pure part.
func replaceSections(doc string, secs []Section) string {
	want := map[string]string{}
	for _, s := range secs {
		want[s.Heading] = render(s)
	}
	var b strings.Builder
	done := map[string]bool{}
	skipping, fence := false, false
	for line := range strings.Lines(doc) {
		trimmed := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(trimmed, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(trimmed, "## ") {
			heading := strings.TrimSpace(strings.TrimPrefix(trimmed, "## "))
			if body, ok := want[heading]; ok && !done[heading] {
				b.WriteString(body)
				done[heading], skipping = true, true
				continue
			}
			skipping = false
		}
		if !skipping {
			b.WriteString(line)
		}
	}
	var missing strings.Builder
	for _, s := range secs {
		if !done[s.Heading] {
			missing.WriteString(want[s.Heading])
		}
	}
	out := b.String()
	if missing.Len() == 0 {
		return strings.TrimRight(out, "\n") + "\n"
	}
	if at := headingAt(out, findings); at >= 0 {
		return out[:at] + missing.String() + out[at:]
	}
	return strings.TrimRight(out, "\n") + "\n\n" + strings.TrimRight(missing.String(), "\n") + "\n"
}

// headingAt is the offset of the line `## heading` outside code fences, or
// -1.
func headingAt(doc, heading string) int {
	off, fence := 0, false
	for line := range strings.Lines(doc) {
		trimmed := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(trimmed, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(trimmed, "## ") && strings.TrimSpace(strings.TrimPrefix(trimmed, "## ")) == heading {
			return off
		}
		off += len(line)
	}
	return -1
}

// render is a section as it stands in the file, with the blank line that
// separates it from the next one.
func render(s Section) string {
	return "## " + s.Heading + "\n\n" + strings.TrimSpace(s.Body) + "\n\n"
}
