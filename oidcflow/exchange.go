package oidcflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"

	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/respond"
	"github.com/authgate/authgate/store"
)

// completePage redeems the exchange code from script, so the code leaves the
// address bar (history.replaceState) and never reaches a server log of the app.
// No inline script: the CSP allows only the same-origin script file.
//
// Written out rather than executed as an html/template: executing any
// template makes the linker keep every exported method of every type in the
// binary (text/template calls reflect.Value.MethodByName): 8 MB of database
// client code that nothing calls, when it last happened (see deploy's
// TestBinaryKeepsDeadCodeElimination). Each value sits in a double-quoted
// attribute, escaped by html.EscapeString.
func completePage(script, exchange, rd, login string) string {
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing you in…</title>
<meta name="referrer" content="no-referrer">
<script src="` + html.EscapeString(script) + `" defer></script></head>
<body data-exchange="` + html.EscapeString(exchange) + `" data-rd="` + html.EscapeString(rd) + `" data-login="` + html.EscapeString(login) + `">
<p id="status">Signing you in…</p>
<noscript>JavaScript is needed to finish signing in.</noscript>
</body></html>
`
}

const completeJS = `"use strict";
(function () {
  var body = document.body;
  var params = new URLSearchParams(window.location.search);
  var code = params.get("exchange");
  var rd = body.getAttribute("data-rd") || "/";
  // The server validated rd (a same-site path or an allowed host); refuse
  // anything else as defence in depth.
  if (!/^(\/(?![\/\\])|https?:\/\/[A-Za-z0-9.-]+(:[0-9]+)?\/)/.test(rd)) { rd = "/"; }
  window.history.replaceState(null, "", window.location.pathname);
  var status = document.getElementById("status");
  function failed() {
    status.textContent = "Sign-in failed or expired. ";
    var a = document.createElement("a");
    a.href = body.getAttribute("data-login") + "?rd=" + encodeURIComponent(rd);
    a.textContent = "Try again";
    status.appendChild(a);
  }
  if (!code) { failed(); return; }
  fetch(body.getAttribute("data-exchange"), {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: code })
  }).then(function (res) {
    if (res.ok) { window.location.replace(rd); } else { failed(); }
  }, failed);
})();
`

// complete serves the built-in completion page: GET /auth/complete?exchange=CODE&rd=/path.
func (f *Flow) complete(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	rd := f.returnTarget(r.URL.Query().Get("rd"), "/")
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	_, _ = io.WriteString(w, completePage(f.cfg.AuthPrefix+"/complete.js", f.cfg.AuthPrefix+"/exchange", rd, f.cfg.AuthPrefix+"/login"))
}

func (f *Flow) completeScript(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, completeJS)
}

// exchange redeems a one-time code for cookies: POST /auth/exchange {"code": "..."}.
func (f *Flow) exchange(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	if !f.sameOrigin(r) {
		f.fail(w, r, http.StatusForbidden, "cross_origin", errors.New("exchange from a foreign origin"))
		return
	}
	// JSON only: an HTML form cannot send it, which closes the simple-request CSRF path.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		f.fail(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", nil)
		return
	}
	var body struct {
		Code string `json:"code"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(&body); err != nil {
		f.fail(w, r, http.StatusBadRequest, "invalid_request", fmt.Errorf("exchange body: %w", err))
		return
	}
	bad := func(why string) {
		f.fail(w, r, http.StatusUnauthorized, "invalid_exchange_code", errors.New(why))
	}
	if !validRandom(body.Code, exchangeBytes) {
		bad("malformed code")
		return
	}
	key := "exchange:" + body.Code
	// Check the record (expiry and browser binding) before deleting it, so a
	// stranger holding a leaked code cannot burn the rightful user's login...
	raw, err := f.store.Get(r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		bad("unknown, used or expired code")
		return
	} else if err != nil {
		f.storeFail(w, r, fmt.Errorf("read exchange code: %w", err))
		return
	}
	var rec exchangeRecord
	if err := f.open("exchange", raw, &rec); err != nil {
		bad("unreadable record")
		return
	}
	if f.now().UnixMilli() >= rec.Expires {
		bad("expired code")
		return
	}
	if b := f.binding(r); b == "" || !equalHash(hashHex(b), rec.Binding) {
		bad("code was issued to another browser")
		return
	}
	// ...then redeem it with one atomic get-and-delete: of concurrent
	// redemptions exactly one gets here with a value.
	if _, err := f.store.Take(r.Context(), key); errors.Is(err, store.ErrNotFound) {
		bad("code already redeemed")
		return
	} else if err != nil {
		f.storeFail(w, r, fmt.Errorf("redeem exchange code: %w", err))
		return
	}
	if err := f.setSession(w, rec.Access, rec.Refresh, rec.IDToken, rec.Session); err != nil {
		f.fail(w, r, http.StatusInternalServerError, "internal_error", err)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]bool{"success": true})
}

// setSession writes the session cookies. Tokens go only into HttpOnly cookies,
// sealed, never into a body or a URL; each is sealed with the login's binding
// (which session it belongs to), so revocation can find it.
func (f *Flow) setSession(w http.ResponseWriter, access, refresh, idToken string, b cookies.Binding) error {
	exp := f.now().Add(f.cfg.CookieMaxAge)
	v, err := f.jar.SealBound(f.jar.Auth, access, b, exp)
	if err != nil {
		return fmt.Errorf("seal access cookie: %w", err)
	}
	f.jar.Auth.Set(w, v)
	if refresh != "" {
		v, err := f.jar.SealBound(f.jar.Refresh, refresh, b, exp)
		if err != nil {
			return fmt.Errorf("seal refresh cookie: %w", err)
		}
		f.jar.Refresh.Set(w, v)
	}
	if idToken != "" {
		v, err := f.jar.SealBound(f.jar.ID, idToken, b, exp)
		if err != nil {
			return fmt.Errorf("seal id cookie: %w", err)
		}
		f.jar.ID.Set(w, v)
	}
	return nil
}
