package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/viper"

	"github.com/authgate/authgate/identity"
)

// reader converts settings that may arrive as strings (environment, flags) or
// typed values (YAML, defaults), collecting one problem per bad key.
type reader struct {
	v        *viper.Viper
	problems []string
}

func (r *reader) bad(name, format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf("%s: %s", describe(name), fmt.Sprintf(format, args...)))
}

func (r *reader) str(name string) string {
	val := r.v.Get(name)
	switch x := val.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case []any, map[string]any:
		r.bad(name, "must be a single value")
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func (r *reader) boolean(name string) bool {
	b, err := cast.ToBoolE(r.v.Get(name))
	if err != nil {
		r.bad(name, "must be true or false")
	}
	return b
}

func (r *reader) integer(name string) int {
	val := r.v.Get(name)
	if s, ok := val.(string); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			r.bad(name, "must be an integer")
		}
		return n
	}
	n, err := cast.ToIntE(val)
	if err != nil {
		r.bad(name, "must be an integer")
	}
	return n
}

func (r *reader) duration(name string) time.Duration {
	d, err := time.ParseDuration(r.str(name))
	if err != nil || d <= 0 {
		r.bad(name, "must be a positive duration like 30s or 168h")
	}
	return d
}

// list accepts a YAML list or a string separated by commas or spaces.
func (r *reader) list(name string) []string {
	val := r.v.Get(name)
	var out []string
	switch x := val.(type) {
	case nil:
	case string:
		out = strings.FieldsFunc(x, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' })
	case []string:
		out = append(out, x...)
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				r.bad(name, "must be a list of strings")
				return nil
			}
			out = append(out, strings.TrimSpace(s))
		}
	default:
		r.bad(name, "must be a list")
	}
	return out
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range r.list(name) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				r.bad(name, "%q is not a CIDR or IP address", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func (r *reader) roleRules(name string) []identity.RoleRule {
	val := r.v.Get(name)
	var rules []identity.RoleRule
	switch x := val.(type) {
	case nil:
		return append([]identity.RoleRule(nil), identity.DefaultRules...)
	case string:
		if strings.TrimSpace(x) == "" {
			return append([]identity.RoleRule(nil), identity.DefaultRules...)
		}
		for _, pair := range strings.Split(x, ",") {
			g, role, ok := strings.Cut(pair, "=")
			g, role = strings.TrimSpace(g), strings.TrimSpace(role)
			if !ok || g == "" || role == "" {
				r.bad(name, "%q is not group=role", pair)
				continue
			}
			rules = append(rules, identity.RoleRule{Group: g, Role: role})
		}
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			g, _ := m["group"].(string)
			role, _ := m["role"].(string)
			if !ok || g == "" || role == "" || len(m) != 2 {
				r.bad(name, "each entry needs exactly group and role")
				continue
			}
			rules = append(rules, identity.RoleRule{Group: g, Role: role})
		}
	default:
		r.bad(name, "must be a list of {group, role}")
	}
	return rules
}

func (r *reader) routeRules(name string) []RouteRule {
	val := r.v.Get(name)
	var rules []RouteRule
	switch x := val.(type) {
	case nil:
	case string:
		for _, spec := range strings.Split(x, ";") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			prefix, reqs, ok := strings.Cut(spec, "=")
			if !ok {
				r.bad(name, "%q is not prefix=role:x|group:y", spec)
				continue
			}
			rule, valid := RouteRule{Prefix: strings.TrimSpace(prefix)}, true
			for _, req := range strings.Split(reqs, "|") {
				kind, v, _ := strings.Cut(req, ":")
				kind, v = strings.TrimSpace(kind), strings.TrimSpace(v)
				switch {
				case v == "" || (kind != "role" && kind != "group"):
					// An empty name would make a rule nobody (or, in a
					// matcher that treats "" as absent, everybody) satisfies.
					r.bad(name, "%q: requirement must be role:NAME or group:NAME", req)
					valid = false
				case kind == "role":
					rule.Roles = append(rule.Roles, v)
				default:
					rule.Groups = append(rule.Groups, v)
				}
			}
			// A rule with a bad requirement is reported once and dropped; Load fails anyway.
			if valid {
				rules = append(rules, rule)
			}
		}
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				r.bad(name, "each entry must be a map with prefix, roles, groups")
				continue
			}
			rule, valid := RouteRule{}, true
			for k, v := range m {
				switch k {
				case "prefix":
					rule.Prefix, _ = v.(string)
				case "roles", "groups":
					items, ok := v.([]any)
					if !ok {
						r.bad(name, "%s must be a list of names", k)
						valid = false
						continue
					}
					for _, it := range items {
						s, ok := it.(string)
						if s = strings.TrimSpace(s); !ok || s == "" {
							r.bad(name, "%s must be a list of non-empty names", k)
							valid = false
							break
						}
						if k == "roles" {
							rule.Roles = append(rule.Roles, s)
						} else {
							rule.Groups = append(rule.Groups, s)
						}
					}
				default:
					r.bad(name, "unknown field %q", k)
					valid = false
				}
			}
			// A rule with a bad field is reported once and dropped; Load fails anyway.
			if valid {
				rules = append(rules, rule)
			}
		}
	default:
		r.bad(name, "must be a list")
	}
	for _, rule := range rules {
		if !strings.HasPrefix(rule.Prefix, "/") {
			r.bad(name, "prefix %q must start with /", rule.Prefix)
		}
		if len(rule.Roles)+len(rule.Groups) == 0 {
			r.bad(name, "rule for %q names no role or group", rule.Prefix)
		}
	}
	return rules
}
