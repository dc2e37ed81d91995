// Package composefile reads the container labels a Docker Compose file
// declares, per service, with Compose's variable interpolation, so that
// `labelgate check` can lint a deployment before it runs.
//
// It understands the parts of the Compose format that decide labels — the
// `services.<name>.labels` map and list forms, `${VAR}` interpolation with
// its default and error forms, a `.env` file beside the compose file, YAML
// anchors and merge keys — and nothing else: it never talks to Docker and
// never interprets the labels themselves.
package composefile
