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
