package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
)

// Build builds tag from the labelgate binary at bin and
// <root>/deploy/Dockerfile (root is the module root).
func Build(ctx context.Context, dc *client.Client, root, bin, tag string) error {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the binary: %w", err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		return fmt.Errorf("reading the Dockerfile: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, data []byte) error {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := errors.Join(
		add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}, dockerfile),
		add(&tar.Header{Name: "labelgate", Mode: 0o755, Size: int64(len(binary))}, binary),
		add(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755}, nil),
		add(&tar.Header{Name: "app/config/", Typeflag: tar.TypeDir, Mode: 0o755}, nil),
		tw.Close(),
	); err != nil {
		return fmt.Errorf("writing the build context: %w", err)
	}
	res, err := dc.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("building %s: %w", tag, err)
	}
	defer res.Body.Close()
	var log strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the build output: %w", err)
		}
		if m.Error != "" {
			return fmt.Errorf("building %s: %s\n%s", tag, m.Error, log.String())
		}
		log.WriteString(m.Stream)
	}
}

// ModuleRoot is the directory of the go.mod of the current module.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the labelgate module")
	}
	return filepath.Dir(mod), nil
}
