package config

import (
	"fmt"
	"log/slog"
)

// redactedText replaces a non-empty secret wherever it would be printed.
const redactedText = "[redacted]"

// Secret is a token or password. It prints, logs and marshals as
// "[redacted]" (or "" when empty) so that a Config can be shown safely;
// Reveal returns the real value for the code that has to send it.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redactedText
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format applies to every fmt verb (%s, %q, %x, %d, …), so none of them can
// reveal the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// MarshalText is used by encoding/json, YAML encoders and slog handlers.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps slog from ever logging the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
