package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/devprovider"
)

const devBanner = `
  ┌───────────────────────────────────────────────────────────────────┐
  │  authgate DEV MODE — embedded OpenID provider, demo app,          │
  │  in-memory store, random secrets. NOT FOR PRODUCTION.             │
  └───────────────────────────────────────────────────────────────────┘
`

// dev runs everything a person needs to see authgate work, with no setup: an
// embedded OpenID provider in Authentik's URL layout, a demo upstream that
// shows the headers it receives, and authgate in front of it.
func dev(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("authgate dev", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "authgate listener")
	providerListen := fs.String("provider-listen", "127.0.0.1:9000", "embedded provider listener")
	adminListen := fs.String("admin-listen", "127.0.0.1:9090", "admin listener")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if v, _ := env("NODE_ENV"); v == "production" {
		fmt.Fprintln(stderr, "authgate dev: refusing to run: NODE_ENV=production is set (dev mode uses an embedded provider and random secrets)")
		return 2
	}
	if v, _ := env("AUTHGATE_PRODUCTION"); v == "true" || v == "1" {
		fmt.Fprintln(stderr, "authgate dev: refusing to run: AUTHGATE_PRODUCTION is set")
		return 2
	}

	lnMain, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "authgate dev:", err)
		return 1
	}
	lnProvider, err := net.Listen("tcp", *providerListen)
	if err != nil {
		fmt.Fprintln(stderr, "authgate dev:", err)
		return 1
	}
	lnAdmin, err := net.Listen("tcp", *adminListen)
	if err != nil {
		fmt.Fprintln(stderr, "authgate dev:", err)
		return 1
	}
	lnDemo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "authgate dev:", err)
		return 1
	}
	apiURL := "http://" + lnMain.Addr().String()
	providerURL := "http://" + lnProvider.Addr().String()

	secret := randomString(32)
	p, err := devprovider.New(devprovider.Options{
		BaseURL:                providerURL,
		Slug:                   "authgate",
		ClientID:               "authgate-dev",
		ClientSecret:           secret,
		RedirectURIs:           []string{apiURL + "/auth/callback"},
		PostLogoutRedirectURIs: []string{apiURL + "/"},
		Users: []devprovider.User{
			{Username: "alice", Password: "alice", Email: "alice@example.com", Name: "Alice Admin", OrganizationID: "org-1", Groups: []string{"ecosire-admins"}},
			{Username: "bob", Password: "bob", Email: "bob@example.com", Name: "Bob Support", OrganizationID: "org-1", Groups: []string{"ecosire-support"}},
			{Username: "carol", Password: "carol", Email: "carol@example.com", Name: "Carol User", Groups: []string{"staff"}},
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, "authgate dev: provider:", err)
		return 1
	}
	servers := []*http.Server{
		{Handler: p, ReadHeaderTimeout: 5 * time.Second},
		{Handler: http.HandlerFunc(demoApp), ReadHeaderTimeout: 5 * time.Second},
	}
	go servers[0].Serve(lnProvider)
	go servers[1].Serve(lnDemo)
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()

	overlay := map[string]string{
		"AUTHENTIK_URL":           providerURL,
		"AUTHENTIK_APP_SLUG":      "authgate",
		"AUTHENTIK_CLIENT_ID":     "authgate-dev",
		"AUTHENTIK_CLIENT_SECRET": secret,
		"API_URL":                 apiURL,
		"UPSTREAM_URL":            "http://" + lnDemo.Addr().String(),
		"COOKIE_SECRET":           randomString(32),
		"AUTHGATE_LOG_FORMAT":     "text",
		"REDIS_URL":               "",
	}
	devEnv := func(name string) (string, bool) {
		if v, ok := overlay[name]; ok {
			return v, true
		}
		return env(name)
	}
	cfg, err := config.Load(config.Source{Env: devEnv, Dev: true})
	if err != nil {
		fmt.Fprintln(stderr, "authgate dev:", err)
		return 2
	}
	log := newLogger(stderr, cfg)
	fmt.Fprint(stdout, devBanner)
	fmt.Fprintf(stdout, "\n  Open      %s/\n  Log in as alice / alice   (admin; also bob / bob = support, carol / carol = user)\n  Provider  %s (issuer %s)\n  Admin     http://%s/healthz\n\n",
		apiURL, providerURL, p.Issuer(), lnAdmin.Addr())
	if err := runServer(ctx, cfg, log, &listeners{main: lnMain, admin: lnAdmin}); err != nil {
		log.Error("authgate stopped", "error", err.Error())
		return 1
	}
	return 0
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// demoApp is the upstream of `authgate dev`: it shows what it received, so a
// person sees the identity headers authgate added (and that no authgate
// cookie reached it).
func demoApp(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/favicon.ico" {
		http.NotFound(w, r)
		return
	}
	var rows strings.Builder
	for _, name := range []string{"X-User-Sub", "X-User-Email", "X-User-Name", "X-Org-Id", "X-Role", "X-User-Groups", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Cookie"} {
		fmt.Fprintf(&rows, "<tr><th>%s</th><td>%s</td></tr>\n", name, htmlEscape(strings.Join(r.Header.Values(name), ", ")))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>authgate demo app</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto}th{text-align:left;padding-right:1em}td{font-family:monospace}</style></head>
<body><h1>Hello, %s</h1>
<p>This page is the demo upstream app. It knows nothing about OpenID Connect: authgate logged you in and sent these headers.</p>
<table>%s</table>
<p>Path: <code>%s</code></p>
<p><a href="/auth/session">/auth/session</a> (your identity as JSON) · <a href="/auth/logout">Log out</a></p>
</body></html>`, htmlEscape(r.Header.Get("X-User-Name")), rows.String(), htmlEscape(r.URL.RequestURI()))
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}
