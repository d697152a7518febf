package cookies

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func setCookieLines(t *testing.T, f func(w http.ResponseWriter)) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	f(rec)
	return rec.Result().Header.Values("Set-Cookie")
}

func TestSetClearSameAttributes(t *testing.T) {
	specs := []Spec{
		{Name: "__Host-authgate", Path: "/", Secure: true, MaxAge: time.Hour},
		{Name: "__Secure-authgate_refresh", Path: "/auth/refresh", Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: 30 * 24 * time.Hour},
		{Name: "__Secure-sso", Path: "/", Domain: "example.com", Secure: true, MaxAge: 1500 * time.Millisecond},
		{Name: "authgate", Path: "", MaxAge: 0}, // dev mode, session cookie
	}
	maxAgeRE := regexp.MustCompile(`; Max-Age=-?\d+`)
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		set := setCookieLines(t, func(w http.ResponseWriter) { s.Set(w, "VALUE") })
		clr := setCookieLines(t, func(w http.ResponseWriter) { s.Clear(w) })
		if len(set) != 1 || len(clr) != 1 {
			t.Fatalf("%s: %d/%d Set-Cookie lines", s.Name, len(set), len(clr))
		}

		// By hand: identical once value and Max-Age are removed.
		a := maxAgeRE.ReplaceAllString(strings.Replace(set[0], "=VALUE", "=", 1), "")
		b := maxAgeRE.ReplaceAllString(clr[0], "")
		if a != b {
			t.Errorf("%s: attributes differ:\n set:   %s\n clear: %s", s.Name, set[0], clr[0])
		}
		if !strings.Contains(clr[0], "Max-Age=0") {
			t.Errorf("%s: clear is not Max-Age=0: %s", s.Name, clr[0])
		}

		// And through the client-side parser.
		resp := &http.Response{Header: http.Header{"Set-Cookie": {set[0], clr[0]}}}
		cs := resp.Cookies()
		if len(cs) != 2 {
			t.Fatalf("parsed %d cookies", len(cs))
		}
		sc, cc := cs[0], cs[1]
		if sc.Name != s.Name || cc.Name != s.Name || sc.Path != cc.Path || sc.Domain != cc.Domain ||
			sc.Secure != cc.Secure || sc.HttpOnly != cc.HttpOnly || sc.SameSite != cc.SameSite {
			t.Errorf("%s: parsed attributes differ: %+v vs %+v", s.Name, sc, cc)
		}
		if !sc.HttpOnly {
			t.Errorf("%s: not HttpOnly", s.Name)
		}
		wantPath := s.Path
		if wantPath == "" {
			wantPath = "/"
		}
		if sc.Path != wantPath {
			t.Errorf("%s: Path = %q, want %q", s.Name, sc.Path, wantPath)
		}
		wantSS := s.SameSite
		if wantSS == 0 {
			wantSS = http.SameSiteLaxMode
		}
		if sc.SameSite != wantSS {
			t.Errorf("%s: SameSite = %v, want %v", s.Name, sc.SameSite, wantSS)
		}
		if cc.Value != "" || cc.MaxAge >= 0 {
			t.Errorf("%s: clear = %+v", s.Name, cc)
		}
		wantMaxAge := int((s.MaxAge + time.Second - 1) / time.Second)
		if sc.MaxAge != wantMaxAge {
			t.Errorf("%s: MaxAge = %d, want %d", s.Name, sc.MaxAge, wantMaxAge)
		}
	}
}

func TestDefaultsLaxAndRootPath(t *testing.T) {
	line := setCookieLines(t, func(w http.ResponseWriter) { Spec{Name: "a"}.Set(w, "v") })[0]
	for _, want := range []string{"a=v", "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	for _, unwanted := range []string{"Secure", "Domain", "Max-Age"} {
		if strings.Contains(line, unwanted) {
			t.Errorf("%q has %q", line, unwanted)
		}
	}
}

func TestPrefixed(t *testing.T) {
	for _, tc := range []struct {
		secure       bool
		path, domain string
		want         string
	}{
		{true, "/", "", "__Host-ag"},
		{true, "", "", "__Host-ag"},
		{true, "/auth/refresh", "", "__Secure-ag"},
		{true, "/", "example.com", "__Secure-ag"},
		{false, "/", "", "ag"},
		{false, "/auth/refresh", "example.com", "ag"},
	} {
		got := Prefixed("ag", tc.secure, tc.path, tc.domain)
		if got != tc.want {
			t.Errorf("Prefixed(ag, %v, %q, %q) = %q, want %q", tc.secure, tc.path, tc.domain, got, tc.want)
		}
		// Whatever Prefixed picks, a Spec with the same attributes is valid.
		s := Spec{Name: got, Secure: tc.secure, Path: tc.path, Domain: tc.domain}
		if err := s.Validate(); err != nil {
			t.Errorf("Prefixed result rejected by Validate: %v", err)
		}
	}
}

func TestValidateHostRules(t *testing.T) {
	bad := []Spec{
		{Name: "__Host-a", Path: "/"},                                      // not Secure
		{Name: "__Host-a", Path: "/x", Secure: true},                       // path not /
		{Name: "__Host-a", Path: "/", Domain: "example.com", Secure: true}, // domain
		{Name: "__host-a", Path: "/x", Secure: true},                       // prefix case-insensitive
		{Name: "__Secure-a", Path: "/"},                                    // not Secure
		{Name: "a", SameSite: http.SameSiteNoneMode},                       // None without Secure
		{Name: ""},                        // no name
		{Name: "a b"},                     // invalid name
		{Name: "a", Path: "/x;Domain=ev"}, // attribute injection through Path
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", s)
		}
	}
}

func TestRead(t *testing.T) {
	s := Spec{Name: "__Host-ag"}
	for _, tc := range []struct {
		header []string
		want   string
		ok     bool
	}{
		{nil, "", false},
		{[]string{"other=1"}, "", false},
		{[]string{"__Host-ag=first; __Host-ag=second"}, "first", true},
		{[]string{"a=1", "__Host-ag=v2"}, "v2", true},
		{[]string{"__Host-ag="}, "", true},
		{[]string{"__host-ag=wrongcase"}, "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for _, h := range tc.header {
			r.Header.Add("Cookie", h)
		}
		got, ok := s.Read(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Read(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

// Peek finds what Read finds whenever the value is one a browser could hold;
// it differs only by not skipping a same-named cookie with a forbidden byte.
func TestPeek(t *testing.T) {
	s := Spec{Name: "__Host-ag"}
	for _, tc := range []struct {
		header []string
		want   string
		ok     bool
	}{
		{nil, "", false},
		{[]string{"other=1"}, "", false},
		{[]string{"__Host-ag=first; __Host-ag=second"}, "first", true},
		{[]string{"a=1", "__Host-ag=v2"}, "v2", true},
		// net/http trims pairs and names, not the start of a value.
		{[]string{"  a=1 ;\t__Host-ag = v3 ; b=2"}, " v3", true},
		{[]string{`__Host-ag="quoted"`}, "quoted", true},
		{[]string{"__Host-ag="}, "", true},
		{[]string{"__Host-ag"}, "", true},
		{[]string{"__host-ag=wrongcase"}, "", false},
		{[]string{"x__Host-ag=suffix; __Host-agx=prefix"}, "", false},
		// Read skips the first (a backslash is not a cookie-value byte); Peek
		// returns it, and its caller, finding it unknown, falls back to Read.
		{[]string{`__Host-ag=bad\v; __Host-ag=good`}, `bad\v`, true},
		// Above net/http's cookie bound, Read sees no cookie at all; neither does Peek.
		{[]string{"__Host-ag=v;" + strings.Repeat("a=1;", maxCookies)}, "", false},
	} {
		h := http.Header{}
		for _, v := range tc.header {
			h.Add("Cookie", v)
		}
		got, ok := s.Peek(h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Peek(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStrip(t *testing.T) {
	names := []string{"__Host-ag", "ag_refresh"}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a=1", "a=1"},
		{"a=1;b=2", "a=1;b=2"}, // nothing removed: unchanged, byte for byte
		{"a=1;  b=2 ; ", "a=1;  b=2 ; "},
		{"__Host-ag=x", ""},
		{"__Host-ag=x; a=1", "a=1"},
		{"a=1; __Host-ag=x", "a=1"},
		{"a=1; __Host-ag=x; b=2", "a=1; b=2"},
		{"a=1;__Host-ag=x;b=2", "a=1; b=2"},
		{"  __Host-ag = x ;a=1", "a=1"},                              // spaces around the name
		{"\t__Host-ag=x;\tb=\"q v\"", "b=\"q v\""},                   // tab; quoted value kept exactly
		{"__Host-ag=1; __Host-ag=2; a=1", "a=1"},                     // duplicates
		{"a=1;;; __Host-ag=x;; ;b=2", "a=1; b=2"},                    // empty segments
		{"a=1; ag_refresh=r; __Host-ag=x", "a=1"},                    // several names
		{"__Host-ag", ""},                                            // no "=" at all
		{"__Host-agX=1; X__Host-ag=2", "__Host-agX=1; X__Host-ag=2"}, // prefixes/suffixes are other cookies
		{"__host-ag=1", "__host-ag=1"},                               // names are case-sensitive
		{"a=__Host-ag=x; __Host-ag=y", "a=__Host-ag=x"},              // name inside a value is data
		{"a=b=c; __Host-ag=1", "a=b=c"},
		{"\u00a0__Host-ag=x; a=1", "a=1"},      // NBSP trimmed by JS-style parsers
		{"a=1; \ufeff__Host-ag=x", "a=1"},      // BOM likewise
		{"a=\u00e9; __Host-ag=x", "a=\u00e9"},  // non-ASCII in other cookies kept
		{"a=1,__Host-ag=x", "a=1,__Host-ag=x"}, // comma is not a separator (RFC 6265)
	} {
		if got := Strip(tc.in, names...); got != tc.want {
			t.Errorf("Strip(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Strip("a=1; __Host-ag=x"); got != "a=1; __Host-ag=x" {
		t.Errorf("Strip with no names = %q", got)
	}
}

func TestStripField(t *testing.T) {
	h := http.Header{
		"Cookie":  {"__Host-ag=x", "a=1; __Host-ag=y", "b=2"},
		"cookie":  {"__Host-ag=z"}, // non-canonical key in a hand-built map
		"X-Other": {"__Host-ag=kept"},
	}
	StripField(h, "Cookie", "__Host-ag")
	StripField(h, "cookie", "__Host-ag")
	if got := h["Cookie"]; len(got) != 2 || got[0] != "a=1" || got[1] != "b=2" {
		t.Errorf("Cookie = %q", got)
	}
	if _, ok := h["cookie"]; ok {
		t.Errorf("non-canonical cookie field kept: %q", h["cookie"])
	}
	if h.Get("X-Other") != "__Host-ag=kept" {
		t.Error("other header touched")
	}
	h = http.Header{"Cookie": {"__Host-ag=x"}}
	StripField(h, "Cookie", "__Host-ag")
	if _, ok := h["Cookie"]; ok {
		t.Error("empty Cookie field kept")
	}
}
