// Package config owns labelgate's configuration: the Config type with its
// defaults, loading it from the optional YAML file and the LABELGATE_*
// environment variables, reading Docker-secret style *_file values, and
// validating the result against the mode the process runs in.
//
// Precedence is environment > file > defaults. A variable that is set but
// empty counts as unset. The three maps (cloudflare.credentials,
// cloudflare.tunnels, agent.agents) are read from the environment as inline
// YAML/JSON, entry by entry over the file's entries. docs/configuration.md
// lists every setting; a test keeps that table and this package in step.
//
// Load reports every problem it finds at once, in one *ValidationError whose
// Problems each name the environment variable and the file key involved.
//
// The package never starts anything and never logs: it reads files and the
// environment it is given, and returns values and errors. A loaded Config is
// meant to be read-only: copies share its maps, and any number of goroutines
// may read it. Secrets are of type Secret, which prints, logs and marshals as
// "[redacted]", so a Config (or any part of it) is safe to print or log.
package config
