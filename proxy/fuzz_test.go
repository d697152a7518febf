package proxy

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCanonicalPath: canonicalPath never panics; what it accepts has no dot
// segment (also not as "..;x"), no backslash, no control character and no
// doubled slash, starts with "/", and is its own canonical form.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{
		"", "/", "/a/b/", "//admin", "/public/../admin", "/public/./x", "/a/..;/b", "/a/.;x/b",
		"/public;/../admin", "/a\\b", "/a\x00b", "/a\x7fb", "relative", "/.", "/..", "/a/.", "/a/..",
		"/%2e%2e/", "/a//b//", "/;/admin", "/...", "/.a/b.", "/admin;x=1/y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := canonicalPath(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("canonicalPath(%q) = %q: not absolute", in, p)
		}
		if strings.Contains(p, "\\\\") || strings.Contains(p, "\\") {
			t.Fatalf("canonicalPath(%q) = %q: backslash", in, p)
		}
		if strings.Contains(p, "//") {
			t.Fatalf("canonicalPath(%q) = %q: doubled slash", in, p)
		}
		for _, seg := range strings.Split(p, "/") {
			name, _, _ := strings.Cut(seg, ";")
			if name == "." || name == ".." {
				t.Fatalf("canonicalPath(%q) = %q: dot segment %q", in, p, seg)
			}
		}
		for i := 0; i < len(p); i++ {
			if p[i] < 0x20 || p[i] == 0x7f {
				t.Fatalf("canonicalPath(%q) = %q: control character", in, p)
			}
		}
		again, err := canonicalPath(p)
		if err != nil || again != p {
			t.Fatalf("not idempotent: canonicalPath(%q) = %q, then %q (%v)", in, p, again, err)
		}
		// Route matching considers the path without parameters too: that form
		// must be as clean.
		forms, n := matchForms(p)
		if n < 1 || n > 2 || forms[0] != p {
			t.Fatalf("matchForms(%q) = %q, %d", p, forms, n)
		}
		for _, form := range forms[:n] {
			if strings.Contains(form, "//") || !strings.HasPrefix(form, "/") {
				t.Fatalf("matchForms(%q) has %q", p, form)
			}
		}
	})
}

// FuzzPlainHost: plainHost is validHost's shortcut, so everything it accepts
// must pass the full url.Parse check too.
func FuzzPlainHost(f *testing.F) {
	for _, h := range []string{"app.example.com", "app:8443", "10.0.0.1:80", "a..b", "-", "a:", ":80", "a:123456", "[::1]:80", "a b", "a@b", "a/b"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if !plainHost(h) || len(h) > 255 {
			return
		}
		u, err := url.Parse("http://" + h)
		if err != nil || u.Host != h || u.User != nil || u.Path != "" {
			t.Fatalf("plainHost(%q) but url.Parse says %v, host %q", h, err, u.Host)
		}
	})
}

// FuzzForwardedPath: the path describe takes from a description without
// "%" is the one url.ParseRequestURI would decode.
func FuzzForwardedPath(f *testing.F) {
	for _, u := range []string{"/", "/a/b?c=d", "/a?", "/a??b", "//x/y", "/a;b/../c", "/a?b%20c"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if uri == "" || uri[0] != '/' || !requestTarget(uri) {
			return
		}
		p, _, _ := strings.Cut(uri, "?")
		if strings.IndexByte(p, '%') >= 0 {
			return
		}
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			t.Fatalf("ParseRequestURI(%q): %v, though it has no escapes", uri, err)
		}
		if u.Path != p {
			t.Fatalf("ParseRequestURI(%q).Path = %q, shortcut %q", uri, u.Path, p)
		}
	})
}
