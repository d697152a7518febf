package proxy

import (
	"errors"
	"path"
	"strings"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/identity"
)

// errInvalidPath marks request paths authgate refuses to judge. A path with dot
// segments or a backslash is normalised differently by different servers, so the
// path authgate matched and the path the upstream serves could differ ("/public/../admin").
var errInvalidPath = errors.New("invalid request path")

// canonicalPath returns the path rules are matched on: the decoded path with
// duplicate slashes collapsed. It refuses dot segments, backslashes and control
// characters rather than resolving them, because the upstream may not resolve
// them the same way.
func canonicalPath(decoded string) (string, error) {
	if decoded == "" {
		return "/", nil
	}
	if decoded[0] != '/' {
		return "", errInvalidPath
	}
	for i := 0; i < len(decoded); i++ {
		if c := decoded[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", errInvalidPath
		}
	}
	for rest := decoded; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		// "..;" and ".;x" are dot segments to Tomcat and friends (path
		// parameters), so the name before any ";" is what counts.
		if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
			return "", errInvalidPath
		}
	}
	clean := path.Clean(decoded)
	if strings.HasSuffix(decoded, "/") && clean != "/" {
		clean += "/"
	}
	return clean, nil
}

// matchForms returns the spellings of p that route matching must consider: p
// itself and, when a segment carries path parameters, p without them.
// Tomcat, Jetty and Spring route "/admin;x=1/y" as "/admin/y", so a rule for
// "/admin/" must see that form too; other servers see "/admin;x=1/y". A path
// is public only if every form is, and a rule applies if any form matches.
//
// The forms come back in an array, so that matching a request allocates
// nothing: n is 1 or 2.
func matchForms(p string) (forms [2]string, n int) {
	if !strings.Contains(p, ";") {
		return [2]string{p}, 1
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	bare := path.Clean(strings.Join(segs, "/"))
	if strings.HasSuffix(p, "/") && bare != "/" {
		bare += "/"
	}
	return [2]string{p, bare}, 2
}

// routes holds the public routes and per-route requirements.
type routes struct {
	public []string
	rules  []config.RouteRule
}

// isPublic matches exactly, or a subtree when the route ends in "/". Matching is
// case-sensitive: a case-insensitive upstream only ever makes a public route
// narrower, never a protected one public.
func (rt routes) isPublic(p string) bool {
	forms, n := matchForms(p)
	for _, form := range forms[:n] {
		if !rt.isPublicForm(form) {
			return false
		}
	}
	return true
}

func (rt routes) isPublicForm(p string) bool {
	for _, route := range rt.public {
		if strings.HasSuffix(route, "/") {
			if strings.HasPrefix(p, route) || p == strings.TrimSuffix(route, "/") {
				return true
			}
		} else if p == route {
			return true
		}
	}
	return false
}

// allowed reports whether id may reach p. Rule prefixes match case-insensitively
// so "/ADMIN" on a case-insensitive upstream cannot dodge a rule for "/admin".
// Every matching rule must be satisfied.
func (rt routes) allowed(p string, id *identity.Identity) bool {
	if len(rt.rules) == 0 {
		return true
	}
	forms, n := matchForms(strings.ToLower(p))
	for _, rule := range rt.rules {
		prefix := strings.ToLower(rule.Prefix)
		matches := false
		for _, lp := range forms[:n] {
			if strings.HasPrefix(lp, prefix) || lp == strings.TrimSuffix(prefix, "/") {
				matches = true
			}
		}
		if !matches {
			continue
		}
		ok := false
		for _, r := range rule.Roles {
			if id.Role == r {
				ok = true
			}
		}
		for _, g := range rule.Groups {
			if id.HasGroup(g) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
