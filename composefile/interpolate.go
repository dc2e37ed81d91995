package composefile

import (
	"fmt"
	"strings"
)

// interpolator applies Compose's variable substitution to one value at a
// time and collects the warnings Compose would print.
type interpolator struct {
	vars     map[string]string
	warnings []string
}

// expand substitutes $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:+alt}, ${VAR+alt}, ${VAR:?message} and ${VAR?message}; $$ is a
// literal dollar. An unset variable without a default becomes empty, with a
// warning, as in Compose.
func (in *interpolator) expand(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i == len(s)-1 {
			b.WriteByte(c)
			continue
		}
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '{':
			end := closingBrace(s[i+2:])
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ in %q", s)
			}
			v, err := in.braced(s[i+2 : i+2+end])
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += 2 + end
		case isNameStart(next):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			b.WriteString(in.lookup(s[i+1 : j]))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func (in *interpolator) braced(expr string) (string, error) {
	name := expr
	op, arg := "", ""
	for k := 0; k < len(expr); k++ {
		if !isNameChar(expr[k]) {
			name = expr[:k]
			rest := expr[k:]
			for _, o := range []string{":-", ":?", ":+", "-", "?", "+"} {
				if strings.HasPrefix(rest, o) {
					op, arg = o, rest[len(o):]
					break
				}
			}
			if op == "" {
				return "", fmt.Errorf("invalid interpolation ${%s}", expr)
			}
			break
		}
	}
	if name == "" || !isNameStart(name[0]) {
		return "", fmt.Errorf("invalid interpolation ${%s}", expr)
	}
	val, set := in.vars[name]
	switch op {
	case ":-":
		if !set || val == "" {
			return in.expand(arg)
		}
	case "-":
		if !set {
			return in.expand(arg)
		}
	case ":+":
		if set && val != "" {
			return in.expand(arg)
		}
		return "", nil
	case "+":
		if set {
			return in.expand(arg)
		}
		return "", nil
	case ":?":
		if !set || val == "" {
			return "", fmt.Errorf("required variable %s is missing a value: %s", name, arg)
		}
	case "?":
		if !set {
			return "", fmt.Errorf("required variable %s is missing a value: %s", name, arg)
		}
	default:
		return in.lookup(name), nil
	}
	return val, nil
}

func (in *interpolator) lookup(name string) string {
	v, ok := in.vars[name]
	if !ok {
		in.warnings = append(in.warnings, fmt.Sprintf("the %s variable is not set; defaulting to a blank string", name))
	}
	return v
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// closingBrace finds the } that closes a ${, skipping nested ${…}.
func closingBrace(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}' && depth == 0:
			return i
		case s[i] == '}':
			depth--
		}
	}
	return -1
}
