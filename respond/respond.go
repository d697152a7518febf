// Package respond writes authgate's JSON answers. Every error body has the same
// shape, {"error": "<stable_code>"}, so clients can branch on the code and
// nothing internal (stack traces, upstream messages, tokens) leaks into a body.
package respond

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error    string `json:"error"`
	LoginURL string `json:"login_url,omitempty"`
}

// JSON writes v with status. Answers are never cached: they describe a session.
func JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error writes {"error": code} with status.
func Error(w http.ResponseWriter, status int, code string) {
	JSON(w, status, ErrorBody{Error: code})
}
