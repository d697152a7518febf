package requestid

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"abc-123_X.y", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"has space", false},
		{"quote\"", false},
		{"new\nline", false},
		{"semi;colon", false},
		{"ünicode", false},
		{"a=b", false},
	} {
		if got := Valid(tc.id); got != tc.ok {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.ok)
		}
	}
	if id := New(); !Valid(id) || len(id) != 22 || New() == id {
		t.Errorf("New() = %q", id)
	}
}

func TestMiddlewareAndLog(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if Logger(log) != log {
		t.Error("Logger wraps twice")
	}
	var seen string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = From(r.Context())
		log.With("component", "test").InfoContext(r.Context(), "inside")
		Answer(w, r)
	}))
	// Without Answer, the response is left alone: a relayed one belongs to
	// the upstream.
	rec := httptest.NewRecorder()
	Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Values(Header); len(got) != 0 {
		t.Errorf("Middleware answered %q by itself", got)
	}
	// Answer outside Middleware has no id to give.
	rec = httptest.NewRecorder()
	Answer(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Values(Header); len(got) != 0 {
		t.Errorf("Answer without an id set %q", got)
	}

	for _, tc := range []struct{ sent, want string }{
		{"client-id.1", "client-id.1"},
		{"bad id", ""},
		{strings.Repeat("x", 65), ""},
		{"", ""},
	} {
		buf.Reset()
		req := httptest.NewRequest("GET", "/", nil)
		if tc.sent != "" {
			req.Header.Set(Header, tc.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(Header)
		if tc.want != "" && got != tc.want || tc.want == "" && (got == tc.sent || !Valid(got)) {
			t.Errorf("sent %q: answered %q", tc.sent, got)
		}
		if seen != got {
			t.Errorf("context id %q, header %q", seen, got)
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line["request_id"] != got || line["component"] != "test" {
			t.Errorf("log line %v", line)
		}
	}
	buf.Reset()
	log.Info("outside")
	if strings.Contains(buf.String(), "request_id") {
		t.Errorf("a line outside any request has a request id: %s", buf.String())
	}
}

// Ids are 22 base64url characters and do not repeat, also across goroutines
// (the generator's state is per thread).
func TestNewUnique(t *testing.T) {
	const perG, gs = 20000, 4
	ids := make(chan string, perG*gs)
	var wg sync.WaitGroup
	for range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				ids <- New()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := make(map[string]bool, perG*gs)
	for id := range ids {
		if len(id) != 22 || !Valid(id) {
			t.Fatalf("id %q: want 22 base64url characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New()
	}
}
