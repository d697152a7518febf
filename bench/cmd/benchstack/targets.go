package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A target is one row of the table: a server (or chain of servers) under
// test, started fresh for every round and pinned to the server CPU.
type target struct {
	name string
	what string
	// baseline is the row whose requests/s in the same round divides this
	// row's (the ratio column).
	baseline string
	// needs names an optional program the row cannot run without.
	needs string
	start func(e *env, dir string) (*instance, error)
}

// instance is a started target.
type instance struct {
	load  load
	procs []*proc // the servers under test: their CPU and RSS are the row's
	check func() error
}

func (in *instance) stop() {
	for _, p := range in.procs {
		p.stop()
	}
}

// Request headers of the rows.
const (
	// The forward-auth rows describe a GET of / on another host, as Traefik
	// and Caddy do.
	hFwdMethod = "X-Forwarded-Method: GET"
	hFwdProto  = "X-Forwarded-Proto: http"
	hFwdHost   = "X-Forwarded-Host: app.example.com"
	hFwdURI    = "X-Forwarded-Uri: /"
)

func (e *env) bearer() string { return "Authorization: Bearer " + e.token }

var targets = []target{
	{name: "upstream", what: "the trivial upstream alone", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startGo(dir, "upstream")
		if err != nil {
			return nil, err
		}
		return &instance{load: load{url: url + "/"}, procs: []*proc{p}, check: func() error {
			return expect(url+"/", nil, 200, "", "")
		}}, nil
	}},
	{name: "bare", what: "bare httputil.ReverseProxy, authgate's transport", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		return e.bareInstance(dir, e.bearer(), "")
	}},
	{name: "bare-headers", what: "bare proxy + authgate's 7 headers, no authentication", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		// A diagnostic: authgate-bearer against this row is the cost of
		// authenticating alone; this row against bare, the cost of the
		// headers the design has authgate send.
		return e.bareInstance(dir, e.bearer(), "X-User-Sub", "-headers")
	}},
	{name: "bare-cookie", what: "bare proxy, the session cookie's request", baseline: "bare-cookie", start: func(e *env, dir string) (*instance, error) {
		// The baseline of authgate-cookie: the same request, whose 3 KiB
		// Cookie header the bare proxy must read and forward too.
		return e.bareInstance(dir, "Cookie: "+e.cookie, "")
	}},
	{name: "nginx", what: "nginx proxy_pass (keepalive upstream)", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startNginx(dir, "")
		if err != nil {
			return nil, err
		}
		return &instance{load: load{url: url + "/", headers: []string{e.bearer()}}, procs: []*proc{p}, check: func() error {
			return expect(url+"/", []string{e.bearer()}, 200, "", "")
		}}, nil
	}},
	{name: "o2p-proxy", what: "oauth2-proxy proxy mode, bearer (skip-jwt-bearer-tokens)", baseline: "bare", needs: "oauth2-proxy", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startOAuth2Proxy(dir)
		if err != nil {
			return nil, err
		}
		return e.bearerRow(p, url, "X-Forwarded-Email"), nil
	}},
	{name: "authgate-bearer", what: "authgate proxy mode, bearer token", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		return e.bearerInstance(dir, nil)
	}},
	{name: "authgate-gogc200", what: "authgate-bearer with GOGC=200", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		// A diagnostic: how much of proxy mode's cost is the collector's
		// pacing (Go's default, GOGC=100, collects about every 2.5 MB allocated
		// here), and what memory it takes to buy that back.
		return e.bearerInstance(dir, map[string]string{"GOGC": "200"})
	}},
	{name: "authgate-cookie", what: "authgate proxy mode, session cookie", baseline: "bare-cookie", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startAuthgate(dir, nil)
		if err != nil {
			return nil, err
		}
		h := []string{"Cookie: " + e.cookie}
		return &instance{load: load{url: url + "/", headers: h}, procs: []*proc{p}, check: func() error {
			return expect(url+"/echo", h, 200, "upstream", "X-User-Sub")
		}}, nil
	}},
	{name: "fa-trivial", what: "trivial Go forward-auth handler (same headers)", baseline: "fa-trivial", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startGo(dir, "fatrivial")
		if err != nil {
			return nil, err
		}
		h := []string{e.bearer(), hFwdMethod, hFwdProto, hFwdHost, hFwdURI}
		return &instance{load: load{url: url + "/auth/forward", headers: h}, procs: []*proc{p}, check: func() error {
			return expect(url+"/auth/forward", h, 200, "response", "X-User-Sub")
		}}, nil
	}},
	{name: "authgate-forward", what: "authgate /auth/forward (Traefik/Caddy), bearer", baseline: "fa-trivial", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startAuthgate(dir, nil)
		if err != nil {
			return nil, err
		}
		return e.forwardRow(p, url+"/auth/forward", 200, "X-User-Sub"), nil
	}},
	{name: "o2p-auth", what: "oauth2-proxy /oauth2/auth, bearer", baseline: "fa-trivial", needs: "oauth2-proxy", start: func(e *env, dir string) (*instance, error) {
		p, url, err := e.startOAuth2Proxy(dir)
		if err != nil {
			return nil, err
		}
		return e.forwardRow(p, url+"/oauth2/auth", 202, "X-Auth-Request-Email"), nil
	}},
	{name: "nginx-trivial", what: "nginx auth_request → trivial handler", baseline: "nginx-trivial", start: func(e *env, dir string) (*instance, error) {
		fa, faURL, err := e.startGo(dir, "fatrivial")
		if err != nil {
			return nil, err
		}
		ng, url, err := e.startNginx(dir, strings.TrimPrefix(faURL, "http://"))
		if err != nil {
			fa.stop()
			return nil, err
		}
		return &instance{load: load{url: url + "/", headers: []string{e.bearer()}}, procs: []*proc{ng, fa}, check: func() error {
			return expect(url+"/echo", []string{e.bearer()}, 200, "upstream", "X-User-Sub")
		}}, nil
	}},
	{name: "nginx-authgate", what: "nginx auth_request → authgate /auth/verify", baseline: "nginx-trivial", start: func(e *env, dir string) (*instance, error) {
		ag, agURL, err := e.startAuthgate(dir, nil)
		if err != nil {
			return nil, err
		}
		ng, url, err := e.startNginx(dir, strings.TrimPrefix(agURL, "http://"))
		if err != nil {
			ag.stop()
			return nil, err
		}
		return &instance{load: load{url: url + "/", headers: []string{e.bearer()}}, procs: []*proc{ng, ag}, check: func() error {
			if err := expectDenied(url + "/"); err != nil {
				return err
			}
			return expect(url+"/echo", []string{e.bearer()}, 200, "upstream", "X-User-Sub")
		}}, nil
	}},
	{name: "authgate-miss", what: "authgate proxy mode, every request a new token", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		return e.missInstance(dir, nil)
	}},
	{name: "authgate-nocache", what: "same, AUTHGATE_TOKEN_CACHE_ENTRIES=-1", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		return e.missInstance(dir, map[string]string{"AUTHGATE_TOKEN_CACHE_ENTRIES": "-1"})
	}},
	// The yardstick of the cache-miss rows, in situ (see report.go).
	{name: "bare-rs256", what: "bare proxy + one raw crypto/rsa RS256 check per request", baseline: "bare", start: func(e *env, dir string) (*instance, error) {
		return e.bareInstance(dir, e.bearer(), "", "-rs256")
	}},
}

// bareInstance starts the bare proxy (bench/cmd/bareproxy) with flags,
// loaded with header. Its check is a 200 from the upstream; with
// upstreamHeader, that header must also reach the upstream (/echo).
func (e *env) bareInstance(dir, header, upstreamHeader string, flags ...string) (*instance, error) {
	p, url, err := e.startServer(dir, "bareproxy", e.cfg.bareProxy, nil, append([]string{"-upstream", e.upstreamURL}, flags...)...)
	if err != nil {
		return nil, err
	}
	h := []string{header}
	return &instance{load: load{url: url + "/", headers: h}, procs: []*proc{p}, check: func() error {
		if upstreamHeader != "" {
			return expect(url+"/echo", h, 200, "upstream", upstreamHeader)
		}
		return expect(url+"/", h, 200, "", "")
	}}, nil
}

// bearerInstance is authgate in proxy mode loaded with the bearer token,
// with extra environment.
func (e *env) bearerInstance(dir string, extra map[string]string) (*instance, error) {
	p, url, err := e.startAuthgate(dir, extra)
	if err != nil {
		return nil, err
	}
	return e.bearerRow(p, url, "X-User-Sub"), nil
}

// bearerRow is an authenticating proxy p at url loaded with the bearer token.
// Its check: a request without credentials is denied, and one with the token
// reaches the upstream carrying identityHeader.
func (e *env) bearerRow(p *proc, url, identityHeader string) *instance {
	return &instance{load: load{url: url + "/", headers: []string{e.bearer()}}, procs: []*proc{p}, check: func() error {
		if err := expectDenied(url + "/"); err != nil {
			return err
		}
		return expect(url+"/echo", []string{e.bearer()}, 200, "upstream", identityHeader)
	}}
}

// forwardRow is a forward-auth endpoint of p loaded with the bearer token and
// the forwarded description of a request. Its check: a request without
// credentials is denied, and one with the token answers status carrying
// identityHeader.
func (e *env) forwardRow(p *proc, endpoint string, status int, identityHeader string) *instance {
	h := []string{e.bearer(), hFwdMethod, hFwdProto, hFwdHost, hFwdURI}
	return &instance{load: load{url: endpoint, headers: h}, procs: []*proc{p}, check: func() error {
		if err := expectDenied(endpoint); err != nil {
			return err
		}
		return expect(endpoint, h, status, "response", identityHeader)
	}}
}

func (e *env) missInstance(dir string, extra map[string]string) (*instance, error) {
	p, url, err := e.startAuthgate(dir, extra)
	if err != nil {
		return nil, err
	}
	return &instance{load: load{url: url + "/", rotate: true}, procs: []*proc{p}, check: func() error {
		return expect(url+"/echo", []string{"Authorization: Bearer " + e.lastToken}, 200, "upstream", "X-User-Sub")
	}}, nil
}

// startGo starts one of benchstack's own servers on the server CPU.
func (e *env) startGo(dir, cmd string, args ...string) (*proc, string, error) {
	return e.startServer(dir, cmd, e.cfg.self, []string{cmd}, args...)
}

// startServer starts bin with cmd, then -listen on a free address, then args,
// on the server CPU, and waits until it answers.
func (e *env) startServer(dir, name, bin string, cmd []string, args ...string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	argv := append(append(cmd, "-listen", addr), args...)
	p, err := startProc(name, e.cfg.serverCPU, filepath.Join(dir, name+".log"), nil, bin, argv...)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	if err := waitHTTP(p, url+"/", 0); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, url, nil
}

// startAuthgate runs authgate as an operator would: configured by its
// documented environment, everything else at its defaults (log level info,
// token cache on, no allow logging).
func (e *env) startAuthgate(dir string, extra map[string]string) (*proc, string, error) {
	p, url, _, err := e.startAuthgateAdmin(dir, extra)
	return p, url, err
}

// startAuthgateAdmin is startAuthgate that also returns the admin listener's URL.
func (e *env) startAuthgateAdmin(dir string, extra map[string]string) (p *proc, url, adminURL string, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, "", "", err
	}
	envv := []string{
		"PATH=/usr/bin:/bin",
		"LISTEN_ADDR=" + addr,
		"ADMIN_ADDR=" + admin,
		"AUTHENTIK_URL=" + e.providerURL,
		"AUTHENTIK_APP_SLUG=authgate",
		"AUTHENTIK_CLIENT_ID=" + e.clientID,
		"AUTHENTIK_CLIENT_SECRET=" + e.clientSecret,
		"API_URL=http://" + addr,
		"UPSTREAM_URL=" + e.upstreamURL,
		"COOKIE_SECRET=" + e.cookieSecret,
	}
	if e.cfg.profile {
		envv = append(envv, "AUTHGATE_ADMIN_PPROF=true")
	}
	for k, v := range extra {
		envv = append(envv, k+"="+v)
	}
	p, err = startProc("authgate", e.cfg.serverCPU, filepath.Join(dir, "authgate.log"), envv, e.cfg.authgate)
	if err != nil {
		return nil, "", "", err
	}
	if e.cfg.profile {
		p.pprof = "http://" + admin + "/debug/pprof/profile"
	}
	if err := waitHTTP(p, "http://"+admin+"/readyz", http.StatusOK); err != nil {
		p.stop()
		return nil, "", "", err
	}
	return p, "http://" + addr, "http://" + admin, nil
}

// startOAuth2Proxy runs oauth2-proxy against the same provider and upstream,
// accepting the provider's JWTs as bearer tokens. Request and auth logging
// are off (authgate logs no allowed request either), which is its best case.
func (e *env) startOAuth2Proxy(dir string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("oauth2-proxy", e.cfg.serverCPU, filepath.Join(dir, "oauth2-proxy.log"), []string{"PATH=/usr/bin:/bin"},
		e.cfg.oauth2Proxy,
		"--http-address="+addr,
		"--provider=oidc",
		"--oidc-issuer-url="+e.issuer,
		"--client-id="+e.clientID,
		"--client-secret="+e.clientSecret,
		"--cookie-secret="+e.cookieSecret[:32],
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream="+e.upstreamURL+"/",
		"--redirect-url=http://"+addr+"/oauth2/callback",
		"--skip-jwt-bearer-tokens=true",
		"--set-xauthrequest=true",
		"--skip-provider-button=true",
		"--request-logging=false",
		"--auth-logging=false",
	)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	if err := waitHTTP(p, url+"/ping", http.StatusOK); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, url, nil
}

// startNginx runs nginx (one worker process, no master) proxying to the
// upstream; with auth set, every request first goes through auth_request to
// http://auth/auth/verify, configured as deploy/nginx/authgate.conf does it.
func (e *env) startNginx(dir, auth string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, "nginx", d), 0o755); err != nil {
			return nil, "", err
		}
	}
	conf := filepath.Join(dir, "nginx", "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(filepath.Join(dir, "nginx"), addr, strings.TrimPrefix(e.upstreamURL, "http://"), auth)), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc("nginx", e.cfg.serverCPU, filepath.Join(dir, "nginx.log"), nil, e.cfg.nginx,
		"-p", filepath.Join(dir, "nginx"), "-c", conf, "-e", filepath.Join(dir, "nginx", "error.log"))
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	if err := waitHTTP(p, url+"/", 0); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, url, nil
}

func nginxConf(dir, listen, app, auth string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream app { server %[2]s; keepalive 256; }
`, dir, app)
	if auth != "" {
		fmt.Fprintf(&b, "    upstream auth { server %s; keepalive 256; }\n", auth)
	}
	fmt.Fprintf(&b, "    server {\n        listen %s;\n", listen)
	if auth != "" {
		b.WriteString(`        location = /auth/verify {
            internal;
            proxy_pass http://auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-For $remote_addr;
        }
`)
	}
	b.WriteString("        location / {\n")
	if auth != "" {
		b.WriteString(`            auth_request /auth/verify;
            auth_request_set $ag_sub    $upstream_http_x_user_sub;
            auth_request_set $ag_org    $upstream_http_x_org_id;
            auth_request_set $ag_role   $upstream_http_x_role;
            auth_request_set $ag_email  $upstream_http_x_user_email;
            auth_request_set $ag_name   $upstream_http_x_user_name;
            auth_request_set $ag_groups $upstream_http_x_user_groups;
            proxy_set_header X-User-Sub    $ag_sub;
            proxy_set_header X-Org-Id      $ag_org;
            proxy_set_header X-Role        $ag_role;
            proxy_set_header X-User-Email  $ag_email;
            proxy_set_header X-User-Name   $ag_name;
            proxy_set_header X-User-Groups $ag_groups;
`)
	}
	b.WriteString(`            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }
    }
}
`)
	return b.String()
}

// expect GETs url with headers and wants status; where says where the
// identity header must show: "upstream" (in the JSON /echo returns),
// "response" (a response header) or "" (nowhere).
func expect(url string, headers []string, status int, where, header string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s: status %d, want %d: %.300s", url, resp.StatusCode, status, body)
	}
	switch where {
	case "upstream":
		var seen http.Header
		if err := json.Unmarshal(body, &seen); err != nil {
			return fmt.Errorf("GET %s: not the upstream's /echo: %.300s", url, body)
		}
		if seen.Get(header) == "" {
			return fmt.Errorf("GET %s: the upstream received no %s (got %v)", url, header, seen)
		}
	case "response":
		if resp.Header.Get(header) == "" {
			return fmt.Errorf("GET %s: answer carries no %s (got %v)", url, header, resp.Header)
		}
	}
	return nil
}

// expectDenied proves the row really authenticates: without credentials the
// answer is not a success.
func expectDenied(url string) error {
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	for _, h := range []string{hFwdMethod, hFwdProto, hFwdHost, hFwdURI} {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 300 {
		return fmt.Errorf("GET %s without credentials: status %d, want a deny", url, resp.StatusCode)
	}
	return nil
}
