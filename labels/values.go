package labels

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// serviceNameRE is the upstream rule for service and template names.
var serviceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// refNameRE is the rule for names that point into the configuration
// (tunnels, credentials): the config package accepts the same set.
var refNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// uuidRE matches the canonical 8-4-4-4-12 form Cloudflare uses for ids.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// reserved are the words a service may not be named after, because they
// are property names (upstream compatibility); `default` is the defaults block.
var reserved = map[string]bool{
	"hostname": true, "service": true, "type": true, "target": true, "proxied": true,
	"ttl": true, "cleanup": true, "credential": true, "tunnel": true, "path": true,
	"origin": true, "access": true, "priority": true, "weight": true, "port": true,
	"flags": true, "tag": true, "comment": true,
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; use true or false (also 1/0, yes/no, on/off)", v)
}

func parseUint(v string, max uint64) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("%q is not a whole number between 0 and %d", v, max)
	}
	return n, nil
}

// parseSeconds accepts a Go duration ("30s", "1m30s") or a bare number of
// seconds ("30") and returns whole seconds, the form Cloudflare stores.
func parseSeconds(v string) (int64, error) {
	s := strings.TrimSpace(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative; use a duration such as 30s or 2m", v)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; use whole seconds (30) or a duration such as 30s or 2m", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; use a duration such as 30s or 2m", v)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds, which is what Cloudflare stores", v)
	}
	secs := int64(d / time.Second)
	if secs > math.MaxInt32 {
		return 0, fmt.Errorf("%q is too long", v)
	}
	return secs, nil
}

// splitList splits a comma-separated label value, trimming blanks and
// dropping repeats; an empty element is an error.
func splitList(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		p := strings.TrimSpace(part)
		if p == "" {
			return nil, fmt.Errorf("%q has an empty element; separate values with single commas", v)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
