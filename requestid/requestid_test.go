package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
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

func TestPickAnswerAndLog(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if Logger(log) != log {
		t.Error("Logger wraps twice")
	}
	for _, tc := range []struct{ sent, want string }{
		{"client-id.1", "client-id.1"},
		{"bad id", ""},
		{strings.Repeat("x", 65), ""},
		{"", ""},
	} {
		id := Pick(tc.sent)
		if tc.want != "" && id != tc.want || tc.want == "" && (id == tc.sent || !Valid(id)) {
			t.Errorf("Pick(%q) = %q", tc.sent, id)
		}
		// The id reaches the log line and the answer, whether the context
		// carries it as a string or inside a handler's own state.
		for name, ctx := range map[string]context.Context{
			"With":        With(context.Background(), id),
			"WithCarrier": WithCarrier(context.Background(), carrier{id}),
		} {
			buf.Reset()
			log.With("component", "test").InfoContext(ctx, "inside")
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if line["request_id"] != id || line["component"] != "test" {
				t.Errorf("%s: log line %v", name, line)
			}
			rec := httptest.NewRecorder()
			Answer(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			if got := rec.Header().Values(Header); len(got) != 1 || got[0] != id {
				t.Errorf("%s: answered %q, want %q", name, got, id)
			}
		}
	}
	if c, ok := CarrierFrom(WithCarrier(context.Background(), carrier{"x"})).(carrier); !ok || c.id != "x" {
		t.Errorf("CarrierFrom lost the carrier: %v", c)
	}
	if CarrierFrom(With(context.Background(), "x")) != nil {
		t.Error("CarrierFrom found a carrier in a plain id")
	}
	buf.Reset()
	log.Info("outside")
	if strings.Contains(buf.String(), "request_id") {
		t.Errorf("a line outside any request has a request id: %s", buf.String())
	}
	// Answer outside a request's context has no id to give.
	rec := httptest.NewRecorder()
	Answer(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Values(Header); len(got) != 0 {
		t.Errorf("Answer without an id set %q", got)
	}
}

type carrier struct{ id string }

func (c carrier) RequestID() string { return c.id }

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
