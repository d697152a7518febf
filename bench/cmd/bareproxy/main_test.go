package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/authgate/authgate/bench"
	"github.com/authgate/authgate/requestid"
)

func TestHandler(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	get := func(t *testing.T, h http.Handler) (*httptest.ResponseRecorder, http.Header) {
		t.Helper()
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "http://proxy.test/echo", nil)
		r.RemoteAddr = "192.0.2.7:1234"
		h.ServeHTTP(w, r)
		var got http.Header
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w, got
	}
	for _, mode := range []struct {
		name           string
		headers, rs256 bool
	}{{"plain", false, false}, {"headers", true, false}, {"rs256", false, true}} {
		t.Run(mode.name, func(t *testing.T) {
			h, err := newHandler(u, mode.headers, mode.rs256)
			if err != nil {
				t.Fatal(err)
			}
			w, got := get(t, h)
			if got.Get("X-Forwarded-For") != "192.0.2.7" {
				t.Errorf("X-Forwarded-For %q", got.Get("X-Forwarded-For"))
			}
			for _, kv := range bench.Identity() {
				if v := got.Get(kv[0]); mode.headers && v != kv[1] || !mode.headers && v != "" {
					t.Errorf("%s upstream = %q (headers mode %v)", kv[0], v, mode.headers)
				}
			}
			// Sent upstream in headers mode, never answered: as authgate, a
			// relayed response is the upstream's.
			sent := got.Get(requestid.Header)
			if mode.headers && !requestid.Valid(sent) || !mode.headers && sent != "" || w.Header().Get(requestid.Header) != "" {
				t.Errorf("request id: sent upstream %q, answered %q", sent, w.Header().Get(requestid.Header))
			}
		})
	}
}
