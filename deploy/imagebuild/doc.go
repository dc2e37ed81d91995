// Package imagebuild builds the labelgate image through the Docker API from
// a labelgate binary and deploy/Dockerfile, as `make image` does with the
// docker CLI. The end-to-end tests (e2e) and the benchmarks (bench) use it;
// it is never linked into the labelgate binary.
//
// It owns the build context (Dockerfile, binary, the /app/config
// directory) and reading the engine's build output; it never builds the
// binary itself and never pulls anything.
package imagebuild
