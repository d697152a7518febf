// Package doctor checks an authgate configuration against the live provider
// and says, one line per check, what is wrong and how to fix it — the
// questions behind most "login does not work" reports:
//
//	discovery (public)   can the provider's discovery document be fetched at its public URL?
//	discovery (internal) ... and over AUTHENTIK_INTERNAL_URL / OIDC_INTERNAL_URL, as authgate does?
//	issuer               does the document name exactly the issuer tokens must carry?
//	signing keys         does the JWKS hold keys authgate can use, or will tokens be HS256?
//	client credentials   does the token endpoint accept the client id and secret?
//	scopes               is offline_access requested (refresh tokens) and every scope offered?
//	redirect URI         is ${API_URL}/auth/callback well formed?
//	clock skew           does this machine's clock agree with the provider's Date header?
//
// The client-credentials check sends a deliberately invalid authorization
// code: "invalid_grant" proves the client authenticated (the code was judged),
// "invalid_client" proves it did not. No user, no token, no state is involved.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/oidcflow"
	"github.com/authgate/authgate/tokens"
)

// Status is the verdict of one check.
type Status int

const (
	OK Status = iota
	Warn
	Fail
	Skip
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	default:
		return "skip"
	}
}

// Check is one line of the report.
type Check struct {
	Name   string
	Status Status
	Detail string
	// Fix says what to change; set for Warn and Fail.
	Fix string
}

// Report is the outcome of Run.
type Report struct {
	Issuer string
	Checks []Check
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the check named name.
func (r *Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// Write prints the report: one line per check, and an indented "fix:" line
// under each warning or failure.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "authgate doctor: issuer %s\n", r.Issuer)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %-4s  %-20s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && (c.Status == Warn || c.Status == Fail) {
			fmt.Fprintf(w, "        %-20s fix: %s\n", "", c.Fix)
		}
	}
	failed, warned := 0, 0
	for _, c := range r.Checks {
		switch c.Status {
		case Fail:
			failed++
		case Warn:
			warned++
		}
	}
	switch {
	case failed > 0:
		fmt.Fprintf(w, "%d check(s) failed, %d warning(s)\n", failed, warned)
	case warned > 0:
		fmt.Fprintf(w, "all checks passed, %d warning(s)\n", warned)
	default:
		fmt.Fprintln(w, "all checks passed")
	}
}

// Names of the checks, in report order.
const (
	CheckPublicDiscovery   = "discovery (public)"
	CheckInternalDiscovery = "discovery (internal)"
	CheckIssuer            = "issuer"
	CheckSigningKeys       = "signing keys"
	CheckClient            = "client credentials"
	CheckScopes            = "scopes"
	CheckRedirectURI       = "redirect URI"
	CheckClockSkew         = "clock skew"
)

// Options tune Run.
type Options struct {
	// Timeout bounds each HTTP request (default 10 s).
	Timeout time.Duration
	// Now is this machine's clock (default time.Now); tests move it.
	Now func() time.Time
}

// discoveryDoc is what the checks read from the discovery document.
type discoveryDoc struct {
	Issuer        string   `json:"issuer"`
	Authorization string   `json:"authorization_endpoint"`
	Token         string   `json:"token_endpoint"`
	JWKS          string   `json:"jwks_uri"`
	Scopes        []string `json:"scopes_supported"`
	IDTokenAlgs   []string `json:"id_token_signing_alg_values_supported"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
}

type fetched struct {
	doc     *discoveryDoc
	date    time.Time // the response's Date header; zero when absent
	sentAt  time.Time
	elapsed time.Duration
	err     error
}

type run struct {
	cfg    *config.Config
	opts   Options
	report *Report
	public string // public base, no trailing slash
	intern string // internal base, no trailing slash ("" = same as public)
}

// Run checks cfg against the provider. It never returns an error: every
// problem is a failed check.
func Run(ctx context.Context, cfg *config.Config, o Options) *Report {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &run{
		cfg:    cfg,
		opts:   o,
		report: &Report{Issuer: cfg.Issuer},
		public: strings.TrimRight(cfg.PublicBase, "/"),
		intern: strings.TrimRight(cfg.InternalBase, "/"),
	}
	if r.intern == r.public {
		r.intern = ""
	}
	wellKnown := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"

	// Discovery, as the browser's side sees it and as authgate sees it.
	pub := r.fetchDiscovery(ctx, wellKnown, false)
	var in fetched
	if r.intern != "" {
		in = r.fetchDiscovery(ctx, swapBase(wellKnown, r.public, r.intern), true)
	}
	r.discoveryChecks(wellKnown, pub, in)

	// authgate's view: the internal fetch when there is one.
	view := pub
	if r.intern != "" {
		view = in
	}
	if view.doc == nil {
		for _, name := range []string{CheckIssuer, CheckSigningKeys, CheckClient} {
			r.add(Check{Name: name, Status: Skip, Detail: "skipped: no discovery document"})
		}
	} else {
		r.issuerCheck(view.doc)
		// Continue with the issuer the document names, so a mismatch does not
		// hide the other problems.
		provider, err := oidcflow.Discover(ctx, oidcflow.Discovery{
			Issuer: view.doc.Issuer, PublicBase: cfg.PublicBase, InternalBase: cfg.InternalBase, Timeout: o.Timeout,
		})
		if err != nil {
			for _, name := range []string{CheckSigningKeys, CheckClient} {
				r.add(Check{Name: name, Status: Skip, Detail: "skipped: " + err.Error()})
			}
		} else {
			r.keysCheck(ctx, provider, view.doc)
			r.clientCheck(ctx, provider)
		}
	}
	var scopesOffered []string
	if view.doc != nil {
		scopesOffered = view.doc.Scopes
	}
	r.scopesCheck(scopesOffered)
	r.redirectCheck()
	r.clockCheck(view)
	return r.report
}

func (r *run) add(c Check) { r.report.Checks = append(r.report.Checks, c) }

// fetchDiscovery GETs the discovery document. Internal fetches present the
// public Host, as authgate's server-to-server client does, so that a provider
// deriving its issuer from the request (Authentik) answers as it will for
// authgate.
func (r *run) fetchDiscovery(ctx context.Context, u string, internal bool) fetched {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fetched{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if internal {
		if pu, err := url.Parse(r.public); err == nil && pu.Host != req.URL.Host {
			req.Host = pu.Host
			req.Header.Set("X-Forwarded-Host", pu.Host)
			req.Header.Set("X-Forwarded-Proto", pu.Scheme)
		}
	}
	client := &http.Client{
		Timeout:       r.opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	f := fetched{sentAt: r.opts.Now()}
	start := time.Now()
	resp, err := client.Do(req)
	f.elapsed = time.Since(start)
	if err != nil {
		f.err = err
		return f
	}
	defer resp.Body.Close()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		f.date = d
	}
	if resp.StatusCode != http.StatusOK {
		f.err = fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if loc := resp.Header.Get("Location"); loc != "" {
			f.err = fmt.Errorf("%w (redirect to %s)", f.err, loc)
		}
		return f
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		f.err = err
		return f
	}
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		f.err = fmt.Errorf("not a JSON discovery document: %v", err)
		return f
	}
	if doc.Issuer == "" || doc.Token == "" || doc.JWKS == "" || doc.Authorization == "" {
		f.err = errors.New("document lacks issuer, authorization_endpoint, token_endpoint or jwks_uri")
		return f
	}
	f.doc = &doc
	return f
}

func (r *run) discoveryChecks(wellKnown string, pub, in fetched) {
	var slugHint string
	if r.cfg.Authentik {
		slugHint = "check AUTHENTIK_URL (Authentik's public base URL) and AUTHENTIK_APP_SLUG (the application's slug, default the client id): "
	} else {
		slugHint = "check OIDC_ISSUER_URL: "
	}
	if r.intern == "" {
		if pub.err != nil {
			r.add(Check{Name: CheckPublicDiscovery, Status: Fail,
				Detail: fmt.Sprintf("GET %s: %v", wellKnown, pub.err),
				Fix:    slugHint + "the discovery document must answer 200 at this URL, from where authgate runs"})
		} else {
			r.add(Check{Name: CheckPublicDiscovery, Status: OK, Detail: fmt.Sprintf("%s answered in %s", wellKnown, pub.elapsed.Round(time.Millisecond))})
		}
		r.add(Check{Name: CheckInternalDiscovery, Status: Skip, Detail: "no internal URL configured; authgate uses the public URL"})
		return
	}
	internalURL := swapBase(wellKnown, r.public, r.intern)
	// With an internal URL, authgate itself needs only that one; the public
	// URL is for browsers and may be unreachable from inside the cluster.
	if pub.err != nil {
		r.add(Check{Name: CheckPublicDiscovery, Status: Warn,
			Detail: fmt.Sprintf("GET %s: %v", wellKnown, pub.err),
			Fix:    "browsers must reach this URL; if this machine simply cannot (split DNS, no hairpin NAT), ignore this, else " + slugHint})
	} else {
		r.add(Check{Name: CheckPublicDiscovery, Status: OK, Detail: fmt.Sprintf("%s answered in %s", wellKnown, pub.elapsed.Round(time.Millisecond))})
	}
	if in.err != nil {
		fix := "authgate fetches discovery, JWKS and tokens over this URL: check AUTHENTIK_INTERNAL_URL / OIDC_INTERNAL_URL (scheme://host:port of the provider as seen from authgate)"
		r.add(Check{Name: CheckInternalDiscovery, Status: Fail, Detail: fmt.Sprintf("GET %s: %v", internalURL, in.err), Fix: fix})
		return
	}
	r.add(Check{Name: CheckInternalDiscovery, Status: OK, Detail: fmt.Sprintf("%s answered in %s", internalURL, in.elapsed.Round(time.Millisecond))})
}

func (r *run) issuerCheck(doc *discoveryDoc) {
	want := r.cfg.Issuer
	if doc.Issuer == want {
		r.add(Check{Name: CheckIssuer, Status: OK, Detail: "discovery names " + doc.Issuer})
		return
	}
	c := Check{Name: CheckIssuer, Status: Fail,
		Detail: fmt.Sprintf("discovery names %q, authgate requires %q", doc.Issuer, want)}
	switch {
	case strings.TrimSuffix(doc.Issuer, "/") == strings.TrimSuffix(want, "/"):
		c.Fix = "only the trailing slash differs; tokens carry the issuer byte for byte: use the provider's spelling"
		if r.cfg.Authentik {
			c.Fix += " (Authentik's issuer ends in /application/o/<slug>/)"
		}
	case r.intern != "" && hostOf(doc.Issuer) == hostOf(r.intern):
		c.Fix = "the provider built its issuer from the internal host: set AUTHENTIK_URL to the public URL and make the provider trust X-Forwarded-Host (Authentik behind a proxy), or set its issuer mode/URL explicitly"
	case r.cfg.Authentik:
		c.Fix = "set AUTHENTIK_URL to the URL browsers use for Authentik (scheme, host and port exactly) and AUTHENTIK_APP_SLUG to the application's slug"
	default:
		c.Fix = "set OIDC_ISSUER_URL to exactly the issuer the provider names"
	}
	r.add(c)
}

func (r *run) keysCheck(ctx context.Context, p *oidcflow.Provider, doc *discoveryDoc) {
	ks := tokens.NewKeySet(p.JWKSURL, tokens.KeySetOptions{Client: p.Client})
	err := ks.Refresh(ctx)
	kinds, n, ferr := r.describeJWKS(ctx, p)
	hs256 := contains(doc.IDTokenAlgs, "HS256")
	switch {
	case err != nil:
		r.add(Check{Name: CheckSigningKeys, Status: Fail, Detail: fmt.Sprintf("JWKS %s: %v", p.JWKSURL, err),
			Fix: "the JWKS must be reachable over the internal URL and hold RSA (≥2048 bit), EC or Ed25519 public keys"})
	case ferr == nil && n == 0 || len(kinds) == 0 && hs256:
		c := Check{Name: CheckSigningKeys, Detail: fmt.Sprintf("JWKS %s is empty: tokens will be HS256, signed with the client secret", p.JWKSURL)}
		fix := "give the provider a signing key"
		if r.cfg.Authentik {
			fix = "in Authentik, edit the provider and choose a Signing Key (e.g. \"authentik Self-signed Certificate\"; the blueprint in deploy/authentik does)"
		}
		if r.cfg.AllowHS256 {
			c.Status = Warn
			c.Detail += "; accepted because allow_hs256 is on"
			c.Fix = fix + ", then turn AUTHGATE_ALLOW_HS256 off: an asymmetric key cannot be used to mint tokens by whoever knows the client secret"
		} else {
			c.Status = Fail
			c.Fix = fix + "; or, weaker (whoever knows the client secret can mint tokens), set AUTHGATE_ALLOW_HS256=true"
		}
		r.add(c)
	default:
		detail := fmt.Sprintf("%d usable key(s)", len(kinds))
		if len(kinds) > 0 {
			detail += ": " + strings.Join(kinds, ", ")
		}
		if n > len(kinds) {
			detail += fmt.Sprintf(" (%d other key(s) ignored)", n-len(kinds))
		}
		c := Check{Name: CheckSigningKeys, Status: OK, Detail: detail}
		if len(doc.IDTokenAlgs) > 0 && hs256 && len(doc.IDTokenAlgs) == 1 {
			c.Status = Warn
			c.Detail += "; but discovery says ID tokens are HS256 only"
			c.Fix = "choose a signing key for the provider"
		}
		r.add(c)
	}
}

// describeJWKS lists the usable keys of the JWKS as "RS256 kid=…" and counts
// all keys.
func (r *run) describeJWKS(ctx context.Context, p *oidcflow.Provider) ([]string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.JWKSURL, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			Kid string `json:"kid"`
			Crv string `json:"crv"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, 0, err
	}
	var kinds []string
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" || k.D != "" {
			continue
		}
		switch k.Kty {
		case "RSA", "EC", "OKP":
		default:
			continue
		}
		name := k.Alg
		if name == "" {
			name = k.Kty
			if k.Crv != "" {
				name += "/" + k.Crv
			}
		}
		if k.Kid != "" {
			name += " kid=" + truncate(k.Kid, 24)
		}
		kinds = append(kinds, name)
	}
	return kinds, len(set.Keys), nil
}

// clientCheck proves the client credentials with a deliberately invalid
// authorization code (see the package doc).
func (r *run) clientCheck(ctx context.Context, p *oidcflow.Provider) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {"authgate-doctor-invalid-code"},
		"redirect_uri":  {r.cfg.RedirectURL},
		"code_verifier": {strings.Repeat("authgate-doctor-", 3)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		r.add(Check{Name: CheckClient, Status: Fail, Detail: err.Error()})
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// client_secret_basic, as authgate sends it (RFC 6749 §2.3.1: both parts
	// form-encoded before Basic).
	req.SetBasicAuth(url.QueryEscape(r.cfg.ClientID), url.QueryEscape(r.cfg.ClientSecret))
	resp, err := p.Client.Do(req)
	if err != nil {
		r.add(Check{Name: CheckClient, Status: Fail, Detail: fmt.Sprintf("POST %s: %v", p.TokenURL, err),
			Fix: "the token endpoint must be reachable over the internal URL"})
		return
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	code := truncate(body.Error, 64)
	detail := fmt.Sprintf("token endpoint answered %d %s to a deliberately invalid code", resp.StatusCode, orDash(code))
	switch {
	case code == "invalid_grant":
		r.add(Check{Name: CheckClient, Status: OK, Detail: fmt.Sprintf("client %q authenticated (%s)", r.cfg.ClientID, detail)})
	case code == "invalid_client" || resp.StatusCode == http.StatusUnauthorized:
		c := Check{Name: CheckClient, Status: Fail, Detail: fmt.Sprintf("client %q was refused: %s", r.cfg.ClientID, detail)}
		if r.cfg.Authentik {
			c.Fix = "AUTHENTIK_CLIENT_ID/AUTHENTIK_CLIENT_SECRET do not match the provider. If the secret was set or regenerated through Authentik's API, " +
				"the stored value may not match what the UI shows (Authentik's regenerated-secret hash mismatch): reset it from the worker's shell, " +
				"`docker exec -i authentik-worker ak shell < regen_secret.py` (sets OAuth2Provider.client_secret = secrets.token_urlsafe(64) and prints it; see README \"authgate doctor\"), " +
				"then put the printed value in AUTHENTIK_CLIENT_SECRET and restart authgate"
		} else {
			c.Fix = "OIDC_CLIENT_ID/OIDC_CLIENT_SECRET must be the provider's confidential client, which must allow client_secret_basic authentication"
		}
		r.add(c)
	case code == "unauthorized_client":
		c := Check{Name: CheckClient, Status: Fail, Detail: detail,
			Fix: "the client may not use the authorization_code grant: allow authorization_code and refresh_token for it"}
		if r.cfg.Authentik {
			c.Fix += " (Authentik: the provider's grant types)"
		}
		r.add(c)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.add(Check{Name: CheckClient, Status: Fail, Detail: detail + ": the provider accepted an invalid code",
			Fix: "the URL answering is not a working token endpoint; check the provider"})
	default:
		r.add(Check{Name: CheckClient, Status: Warn, Detail: detail + " (inconclusive: expected invalid_grant or invalid_client)",
			Fix: "look up the provider's log for the token request from this client"})
	}
}

func (r *run) scopesCheck(offered []string) {
	scopes := r.cfg.Scopes
	var problems, fixes []string
	status := OK
	if !contains(scopes, "openid") {
		status = Fail
		problems = append(problems, "openid is not requested")
		fixes = append(fixes, "add openid to AUTHGATE_SCOPES (no ID token without it)")
	}
	if !contains(scopes, "offline_access") {
		status = max(status, Warn)
		problems = append(problems, "offline_access is not requested: no refresh tokens, sessions end when the access token expires")
		fixes = append(fixes, "add offline_access to AUTHGATE_SCOPES")
	}
	if len(offered) > 0 {
		var missing []string
		for _, s := range scopes {
			// Authentik lists exactly the provider's scope mappings; other
			// providers often leave standard scopes out of the list.
			if !r.cfg.Authentik && contains(standardScopes, s) {
				continue
			}
			if !contains(offered, s) {
				missing = append(missing, s)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			status = max(status, Warn)
			problems = append(problems, "the provider does not advertise "+strings.Join(missing, ", ")+" in scopes_supported")
			fix := "add the scope to the client, or drop it from AUTHGATE_SCOPES"
			if r.cfg.Authentik {
				fix = "add the scope mappings to the provider's Scopes (\"organization\" is the custom mapping emitting organizationId; deploy/authentik/blueprint.yaml creates it)"
			}
			fixes = append(fixes, fix)
		}
	}
	c := Check{Name: CheckScopes, Status: status, Detail: "requesting " + strings.Join(scopes, " ")}
	if len(problems) > 0 {
		c.Detail += "; " + strings.Join(problems, "; ")
		c.Fix = strings.Join(fixes, "; ")
	}
	r.add(c)
}

func (r *run) redirectCheck() {
	ru := r.cfg.RedirectURL
	u, err := url.Parse(ru)
	c := Check{Name: CheckRedirectURI, Status: OK, Detail: ru + " (register exactly this URI at the provider)"}
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		c.Status, c.Detail, c.Fix = Fail, fmt.Sprintf("%q is not an absolute URL", ru), "set API_URL to the public base URL of authgate's /auth/* (scheme://host[:port][/prefix])"
	case u.RawQuery != "" || u.Fragment != "":
		c.Status, c.Fix = Fail, "API_URL must not carry a query or fragment"
	case !strings.HasSuffix(u.Path, "/auth/callback"):
		c.Status, c.Fix = Fail, "the redirect URI must end in /auth/callback"
	case u.Scheme != "https" && !isLoopback(u.Hostname()):
		c.Status = Warn
		c.Detail = ru + ": plain http on a non-loopback host"
		c.Fix = "serve API_URL over https: the authorization code and the session cookies cross the network"
		if r.cfg.Production {
			c.Status = Fail
		}
	}
	r.add(c)
}

func (r *run) clockCheck(f fetched) {
	if f.date.IsZero() {
		r.add(Check{Name: CheckClockSkew, Status: Skip, Detail: "the provider sent no Date header"})
		return
	}
	// Date has one-second resolution and is set when the response started:
	// compare with the middle of the round trip and allow 2 s of slack.
	local := f.sentAt.Add(f.elapsed / 2)
	skew := local.Sub(f.date)
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	detail := fmt.Sprintf("this machine is %s %s the provider", abs.Round(time.Second), map[bool]string{true: "ahead of", false: "behind"}[skew >= 0])
	leeway := r.cfg.TokenLeeway
	fix := "synchronise the clocks (NTP); tokens' exp/nbf/iat are judged with token_leeway " + leeway.String()
	switch {
	case abs <= 2*time.Second:
		r.add(Check{Name: CheckClockSkew, Status: OK, Detail: detail})
	case abs > leeway:
		r.add(Check{Name: CheckClockSkew, Status: Fail, Detail: detail + ", more than token_leeway " + leeway.String(), Fix: fix})
	default:
		r.add(Check{Name: CheckClockSkew, Status: Warn, Detail: detail, Fix: fix})
	}
}

// standardScopes are the scopes of OpenID Connect Core §5.4 and §11.
var standardScopes = []string{"openid", "email", "profile", "address", "phone", "offline_access"}

func swapBase(u, from, to string) string {
	if from == "" || to == "" || from == to {
		return u
	}
	if u == from || strings.HasPrefix(u, from+"/") {
		return to + u[len(from):]
	}
	return u
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "(no OAuth error code)"
	}
	return s
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
