package flowtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/authgate/authgate/devprovider"
)

// ProviderRequest is one request the provider received.
type ProviderRequest struct {
	// Listener is "public" or "internal" (Options.InternalURL).
	Listener string
	Method   string
	// Path is the escaped path; URL the request URI with its query.
	Path, URL string
	// Host is the Host header (the public host on internal calls).
	Host   string
	Status int
}

// IssuedToken is a token the provider's token endpoint handed out.
type IssuedToken struct {
	Kind  string // "access_token", "refresh_token" or "id_token"
	Value string
	Grant string // grant_type of the request
}

type providerLog struct {
	mu       sync.Mutex
	requests []ProviderRequest
	tokens   []IssuedToken
}

func (l *providerLog) serve(listener string, p *devprovider.Provider, w http.ResponseWriter, r *http.Request) {
	rec := ProviderRequest{Listener: listener, Method: r.Method, Path: r.URL.EscapedPath(), URL: r.URL.RequestURI(), Host: r.Host}
	if !strings.HasSuffix(rec.Path, "/application/o/token/") {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		p.ServeHTTP(sw, r)
		rec.Status = sw.status
		l.add(rec, nil)
		return
	}
	// Token answers are captured so tests know every token there is.
	grant := ""
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		grant = r.PostForm.Get("grant_type")
	}
	rr := httptest.NewRecorder()
	p.ServeHTTP(rr, r)
	for k, v := range rr.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rr.Code)
	_, _ = w.Write(rr.Body.Bytes())
	rec.Status = rr.Code
	var body map[string]any
	_ = json.Unmarshal(rr.Body.Bytes(), &body)
	var issued []IssuedToken
	for _, kind := range []string{"access_token", "refresh_token", "id_token"} {
		if v, ok := body[kind].(string); ok && v != "" {
			issued = append(issued, IssuedToken{Kind: kind, Value: v, Grant: grant})
		}
	}
	l.add(rec, issued)
}

func (l *providerLog) add(r ProviderRequest, issued []IssuedToken) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
	l.tokens = append(l.tokens, issued...)
}

func (l *providerLog) snapshot() []ProviderRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ProviderRequest(nil), l.requests...)
}

func (l *providerLog) issued() []IssuedToken {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]IssuedToken(nil), l.tokens...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Recorded is one answer of authgate: the request line and what went back.
type Recorded struct {
	Method, URL string // URL is the request URI as received
	Status      int
	Header      http.Header
	Body        []byte // the first maxRecorded bytes
}

const maxRecorded = 64 << 10

type responseLog struct {
	mu   sync.Mutex
	list []Recorded
}

func (l *responseLog) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	rw := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
	uri := r.URL.RequestURI()
	method := r.Method
	h.ServeHTTP(rw, r)
	rec := Recorded{Method: method, URL: uri, Status: rw.status, Header: w.Header().Clone(), Body: rw.body.Bytes()}
	l.mu.Lock()
	l.list = append(l.list, rec)
	l.mu.Unlock()
}

func (l *responseLog) snapshot() []Recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Recorded(nil), l.list...)
}

// recordingWriter tees the body and passes Flush and Hijack through, so
// streams and upgrades behave as without it.
type recordingWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	if room := maxRecorded - w.body.Len(); room > 0 {
		w.body.Write(p[:min(room, len(p))])
	}
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Secret is a value that must not leak, with a name for the failure message.
type Secret struct{ Name, Value string }

// Secrets returns every value the environment knows must never leave
// authgate in clear: the tokens the provider issued, the client secret and
// the cookie secret. Tests add exchange codes and cookie values they saw.
func (e *Env) Secrets() []Secret {
	s := []Secret{
		{"client secret", e.Provider.ClientSecret()},
		{"cookie secret", e.CookieSecret},
	}
	for _, t := range e.IssuedTokens() {
		s = append(s, Secret{t.Kind, t.Value})
	}
	return s
}

// Leaks scans every answer authgate gave (status line target, headers
// including Location and Set-Cookie, body), every URL the provider was asked
// for and authgate's whole log for the secrets, and describes each finding.
// allow, when not nil, may excuse a finding (the ID token is meant to travel
// in the end-session URL as id_token_hint).
func (e *Env) Leaks(secrets []Secret, allow func(where string, s Secret) bool) []string {
	var found []string
	check := func(where, text string) {
		for _, s := range secrets {
			if len(s.Value) < 8 || !strings.Contains(text, s.Value) {
				continue
			}
			if allow != nil && allow(where, s) {
				continue
			}
			found = append(found, fmt.Sprintf("%s found in %s", s.Name, where))
		}
	}
	for _, r := range e.Responses() {
		where := fmt.Sprintf("%s %s → %d", r.Method, r.URL, r.Status)
		check(where+" (request URL)", r.URL)
		for k, vs := range r.Header {
			for _, v := range vs {
				check(fmt.Sprintf("%s (header %s)", where, k), v)
			}
		}
		check(where+" (body)", string(r.Body))
	}
	for _, r := range e.ProviderRequests() {
		check(fmt.Sprintf("provider %s request %s %s", r.Listener, r.Method, r.URL), r.URL)
	}
	check("authgate log", e.Logs.String())
	return found
}
