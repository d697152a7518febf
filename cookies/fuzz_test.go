package cookies

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzOpen: Open never panics, and nothing opens unless this process sealed exactly
// that string (mutations of sealed values, other spellings and random input all fail).
func FuzzOpen(f *testing.F) {
	c, _ := newTestCodec(f, testSecret)
	// Deterministic nonces: the fuzzing engine runs this setup in every worker
	// process, and they must all agree on which strings were sealed.
	c.rand = &counterReader{}
	sealed := map[string][]byte{}
	for _, pt := range []string{"", "x", "session payload", strings.Repeat("z", 300)} {
		v, err := c.Seal("session", []byte(pt), t0.Add(time.Hour))
		if err != nil {
			f.Fatal(err)
		}
		sealed[v] = []byte(pt)
		f.Add("session", v)
		f.Add("other", v)
		f.Add("session", v+"\n")
		f.Add("session", v[:len(v)-1])
	}
	for _, s := range []string{"", "A", "AAAA", "not base64", strings.Repeat("A", 44), strings.Repeat("_", MaxValueLen+1)} {
		f.Add("session", s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		pt, err := c.Open(name, value)
		if err != nil {
			if pt != nil {
				t.Fatalf("Open(%q) returned plaintext with error %v", value, err)
			}
			return
		}
		want, ok := sealed[value]
		if !ok || name != "session" {
			t.Fatalf("Open(%q, %q) succeeded for a value this test never sealed", name, value)
		}
		if !bytes.Equal(pt, want) {
			t.Fatalf("Open = %q, want %q", pt, want)
		}
	})
}

// FuzzStrip: the result holds no cookie named name (by our segment rule or by
// net/http's parser), the other cookies survive in order and byte-exact, and a header
// without the name comes back unchanged.
func FuzzStrip(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "__Host-ag=x", "a=1; __Host-ag=x; b=2", "a=1;;;__Host-ag=x;; ;b=2",
		"  __Host-ag = x ;a=1", "\u00a0__Host-ag=x", "__Host-ag", "a=__Host-ag=x", "a=1,__Host-ag=x",
		"__Host-ag=1; __Host-ag=2", "b=\"q v\"; __Host-ag=1",
	} {
		f.Add(s, "__Host-ag")
	}
	f.Add("a=1; b=2", "a")
	f.Add("=x; a=1", "")
	f.Fuzz(func(t *testing.T, header, name string) {
		got := Strip(header, name)

		var wantKept []string
		found := false
		for seg := range strings.SplitSeq(header, ";") {
			pair := trimOWS(seg)
			if pair == "" {
				continue
			}
			n, _, _ := strings.Cut(pair, "=")
			if trimAnySpace(n) == name {
				found = true
				continue
			}
			wantKept = append(wantKept, pair)
		}
		if !found {
			if got != header {
				t.Fatalf("nothing to strip, but Strip(%q) = %q", header, got)
			}
			return
		}
		if want := strings.Join(wantKept, "; "); got != want {
			t.Fatalf("Strip(%q, %q) = %q, want %q", header, name, got, want)
		}
		for seg := range strings.SplitSeq(got, ";") {
			n, _, _ := strings.Cut(seg, "=")
			if trimAnySpace(trimOWS(n)) == name && trimOWS(seg) != "" {
				t.Fatalf("Strip(%q, %q) = %q still holds the cookie", header, name, got)
			}
		}
		// The standard parser, as an upstream Go app would use it, sees no such cookie.
		r := &http.Request{Header: http.Header{"Cookie": {got}}}
		if name != "" && len(r.CookiesNamed(name)) != 0 {
			t.Fatalf("Strip(%q, %q) = %q: net/http still finds the cookie", header, name, got)
		}
		if Strip(got, name) != got {
			t.Fatalf("Strip not idempotent on %q", got)
		}
	})
}

// counterReader yields 0, 1, 2, ... as bytes: distinct nonces, same in every process.
type counterReader struct{ n byte }

func (r *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

// FuzzPeek: whenever Peek's value has only bytes a cookie value may hold, it
// is exactly what Read returns; and Peek finds a cookie whenever Read does.
// That is what makes it safe to look Peek's value up first and fall back to
// Read when it is not known.
func FuzzPeek(f *testing.F) {
	for _, h := range []string{
		"ag=v", "a=1; ag=v; ag=w", `ag="q"`, `ag=bad\\; ag=good`, " ag = v ", "ag", "ag=", "x=1;;ag=2", "ag=a b",
	} {
		f.Add(h, "")
		f.Add(h, "ag=second")
	}
	s := Spec{Name: "ag"}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		r := &http.Request{Header: http.Header{"Cookie": {line1}}}
		if line2 != "" {
			r.Header["Cookie"] = append(r.Header["Cookie"], line2)
		}
		peek, pok := s.Peek(r.Header)
		read, rok := s.Read(r)
		if rok && !pok {
			t.Fatalf("Read found %q, Peek found nothing", read)
		}
		if pok && validCookieValue(peek) && (!rok || read != peek) {
			t.Fatalf("Peek = %q (a valid value), Read = %q, %v", peek, read, rok)
		}
	})
}

// validCookieValue is net/http's rule for the bytes of a cookie value.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
