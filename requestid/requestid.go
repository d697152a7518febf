// Package requestid gives every request an id that ties its log lines, the
// upstream's log lines and the client's report together.
//
// Pick accepts the client's X-Request-Id when it is sane (1 to 64 characters
// of [A-Za-z0-9._-], so it cannot inject log fields or header lines) and
// generates one otherwise. The handler that picks it keeps it in the
// request's context, with With or, inside per-request state of its own, with
// WithCarrier (proxy does: one context value and one copy of the Request per
// request instead of two). The reverse proxy sends it upstream (proxy's
// Rewrite sets X-Request-Id); Answer puts it on the answers authgate writes
// itself. A response relayed from the upstream is the upstream's (as Envoy
// leaves it by default): the app has the id and may echo it, as many
// frameworks do. NewLogHandler adds it to every log record made with that
// context, as "request_id".
package requestid

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net/http"
)

// Header is the request and response header carrying the id.
const Header = "X-Request-Id"

// MaxLen bounds an accepted client id.
const MaxLen = 64

type ctxKey struct{}

// From returns the request id in ctx, or "".
func From(ctx context.Context) string {
	switch v := ctx.Value(ctxKey{}).(type) {
	case string:
		return v
	case Carrier:
		return v.RequestID()
	}
	return ""
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// A Carrier is a handler's per-request state that holds the request id.
type Carrier interface{ RequestID() string }

// WithCarrier returns ctx carrying c: From finds the id in it, and
// CarrierFrom returns c itself to the handler that stored it.
func WithCarrier(ctx context.Context, c Carrier) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// CarrierFrom returns the Carrier in ctx, or nil.
func CarrierFrom(ctx context.Context) Carrier {
	c, _ := ctx.Value(ctxKey{}).(Carrier)
	return c
}

// Valid reports whether a client-supplied id may be used as is.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// New returns a fresh id: 128 random bits, base64url (22 characters). The
// bits come from math/rand/v2's runtime generator (ChaCha8 seeded by the OS,
// one state per thread): an id needs to be unique, not secret — a client may
// choose its own — and crypto/rand would cost a system call per request.
func New() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var out [22]byte
	base64.RawURLEncoding.Encode(out[:], b[:])
	return string(out[:])
}

// Pick returns the id of a request whose X-Request-Id is sent: sent itself
// when Valid, else a fresh one.
func Pick(sent string) string {
	if Valid(sent) {
		return sent
	}
	return New()
}

// Answer sets X-Request-Id on w to r's id, for an answer the handler writes
// itself (a denial, an error, its own endpoints), so that a client can quote
// it. It is not set on a relayed response, which belongs to the upstream: an
// upstream that echoes the id would otherwise send it twice, and every
// proxied response would carry one more header line.
func Answer(w http.ResponseWriter, r *http.Request) {
	if id := From(r.Context()); id != "" {
		w.Header()[Header] = []string{id} // Header is canonical
	}
}

// NewLogHandler wraps h so that every record logged with a context carrying a
// request id gets a "request_id" attribute. Wrapping twice adds it once.
func NewLogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

// Logger returns log with its handler wrapped by NewLogHandler.
func Logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	if _, ok := log.Handler().(logHandler); ok {
		return log
	}
	return slog.New(NewLogHandler(log.Handler()))
}

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := From(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
