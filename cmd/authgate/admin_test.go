package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The profiler exposes goroutine stacks and the command line: it must be
// served only when asked for, and only by the admin listener.
func TestAdminPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		rec := httptest.NewRecorder()
		newAdmin(on).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("admin_pprof=%v: /debug/pprof/ answered %d, want %d", on, rec.Code, want)
		}
	}
}
