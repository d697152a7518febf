package flowtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/cookies"
)

// Browser is an HTTP client with its own cookie jar that never follows
// redirects: every step of a login is the test's to take (or to skip).
type Browser struct {
	T      testing.TB
	Env    *Env
	Client *http.Client
	Jar    *cookiejar.Jar
	// User is who the provider logs in at Authorize; default Options.AutoLogin.
	User string
}

// Response is an answer with its body read.
type Response struct {
	*http.Response
	Body []byte
}

// NewBrowser returns a browser with an empty cookie jar.
func (e *Env) NewBrowser() *Browser {
	jar, _ := cookiejar.New(nil)
	var tr http.RoundTripper
	if e.Options.Production {
		tr = e.Server.Client().Transport.(*http.Transport).Clone()
	} else {
		tr = &http.Transport{}
	}
	c := &http.Client{
		Jar:       jar,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Browser{T: e.T, Env: e, Client: c, Jar: jar, User: e.Options.AutoLogin}
}

// abs resolves a path against authgate's URL; absolute URLs are kept.
func (b *Browser) abs(u string) string {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return u
	}
	return b.Env.URL + u
}

// NewRequest builds a request to u (a path on authgate, or an absolute URL)
// with header given as name, value pairs.
func (b *Browser) NewRequest(method, u string, body io.Reader, header ...string) *http.Request {
	b.T.Helper()
	req, err := http.NewRequest(method, b.abs(u), body)
	if err != nil {
		b.T.Fatalf("flowtest: request %s %s: %v", method, u, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

// Do sends req and reads the whole answer.
func (b *Browser) Do(req *http.Request) *Response {
	b.T.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.T.Fatalf("flowtest: %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.T.Fatalf("flowtest: %s %s: reading body: %v", req.Method, req.URL, err)
	}
	return &Response{Response: resp, Body: body}
}

// Get sends a GET with header pairs.
func (b *Browser) Get(u string, header ...string) *Response {
	b.T.Helper()
	return b.Do(b.NewRequest(http.MethodGet, u, nil, header...))
}

// Navigate is a top-level browser navigation to u.
func (b *Browser) Navigate(u string) *Response {
	b.T.Helper()
	return b.Get(u, "Accept", "text/html,application/xhtml+xml", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none")
}

// Post sends a POST with a body and header pairs.
func (b *Browser) Post(u, contentType, body string, header ...string) *Response {
	b.T.Helper()
	req := b.NewRequest(http.MethodPost, u, strings.NewReader(body), header...)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return b.Do(req)
}

// Fetch is a same-origin fetch() POST with a JSON body, as the completion
// page and apps send it.
func (b *Browser) Fetch(u, jsonBody string) *Response {
	b.T.Helper()
	return b.Post(u, "application/json", jsonBody, "Origin", origin(b.Env.URL), "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors")
}

// StartLogin is step 1: GET /auth/login?rd=... It returns the provider's
// authorization URL the browser is sent to.
func (b *Browser) StartLogin(rd string) *url.URL {
	b.T.Helper()
	u := "/auth/login"
	if rd != "" {
		u += "?rd=" + url.QueryEscape(rd)
	}
	resp := b.Navigate(u)
	return b.location(resp, http.StatusFound, "login")
}

// Authorize is the provider's part: the provider logs b.User in and sends
// the browser back. It returns the callback URL (with code and state).
func (b *Browser) Authorize(authorize *url.URL) *url.URL {
	b.T.Helper()
	e := b.Env
	e.loginMu.Lock()
	if b.User != e.Options.AutoLogin {
		e.Provider.SetAutoLogin(b.User)
		defer e.Provider.SetAutoLogin(e.Options.AutoLogin)
	}
	resp := b.Navigate(e.browserURL(authorize.String()))
	e.loginMu.Unlock()
	return b.location(resp, http.StatusFound, "authorize")
}

// Callback is step 2: the provider's redirect to /auth/callback.
func (b *Browser) Callback(callback *url.URL) *Response {
	b.T.Helper()
	return b.Navigate(callback.String())
}

// ExchangeCode returns the exchange code of a callback's redirect.
func ExchangeCode(t testing.TB, callback *Response) string {
	t.Helper()
	if callback.StatusCode != http.StatusFound {
		t.Fatalf("flowtest: callback answered %d, want 302: %s", callback.StatusCode, callback.Body)
	}
	loc, err := url.Parse(callback.Header.Get("Location"))
	if err != nil {
		t.Fatalf("flowtest: callback Location: %v", err)
	}
	code := loc.Query().Get("exchange")
	if code == "" {
		t.Fatalf("flowtest: callback Location %q has no exchange code", loc)
	}
	return code
}

// Exchange is step 4: POST /auth/exchange {"code": code} from the page.
func (b *Browser) Exchange(code string) *Response {
	b.T.Helper()
	body, _ := json.Marshal(map[string]string{"code": code})
	return b.Fetch("/auth/exchange", string(body))
}

// LoginAs runs the whole login as user, the way a browser does (including
// the completion page and its script), and ends with the session cookies set.
// It returns the page the browser was finally sent to.
func (b *Browser) LoginAs(user string) string {
	b.T.Helper()
	if user != "" {
		b.User = user
	}
	authorize := b.StartLogin("/landing?x=1")
	callback := b.Callback(b.Authorize(authorize))
	code := ExchangeCode(b.T, callback)
	if b.Env.Options.FrontendURL == "" {
		loc := callback.Header.Get("Location")
		if page := b.Navigate(loc); page.StatusCode != http.StatusOK {
			b.T.Fatalf("flowtest: completion page answered %d", page.StatusCode)
		}
		if js := b.Get("/auth/complete.js"); js.StatusCode != http.StatusOK {
			b.T.Fatalf("flowtest: completion script answered %d", js.StatusCode)
		}
	}
	if resp := b.Exchange(code); resp.StatusCode != http.StatusOK {
		b.T.Fatalf("flowtest: exchange answered %d: %s", resp.StatusCode, resp.Body)
	}
	if b.Cookie(b.Env.Jar.Auth.Name, "/") == "" {
		b.T.Fatalf("flowtest: no session cookie after login")
	}
	return "/landing?x=1"
}

// Cookie returns the value the jar would send for name on path ("" if none).
func (b *Browser) Cookie(name, path string) string {
	u, _ := url.Parse(b.Env.URL + path)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Session returns the sealed session cookies and what they open to.
type Session struct {
	Access, Refresh, IDToken string // opened values
	Sealed                   map[string]string
}

// Session opens the browser's authgate cookies.
func (b *Browser) Session() Session {
	j := b.Env.Jar
	s := Session{Sealed: map[string]string{}}
	for _, c := range []struct {
		spec cookies.Spec
		dst  *string
	}{{j.Auth, &s.Access}, {j.Refresh, &s.Refresh}, {j.ID, &s.IDToken}} {
		v := b.Cookie(c.spec.Name, c.spec.Path)
		s.Sealed[c.spec.Name] = v
		*c.dst = b.Env.Open(c.spec, v)
	}
	return s
}

// SetCookie plants a cookie in the browser for authgate's host.
func (b *Browser) SetCookie(c *http.Cookie) {
	u, _ := url.Parse(b.Env.URL + "/")
	b.Jar.SetCookies(u, []*http.Cookie{c})
}

func (b *Browser) location(resp *Response, status int, step string) *url.URL {
	b.T.Helper()
	if resp.StatusCode != status {
		b.T.Fatalf("flowtest: %s answered %d, want %d: %s", step, resp.StatusCode, status, resp.Body)
	}
	loc, err := resp.Location()
	if err != nil {
		b.T.Fatalf("flowtest: %s: %v", step, err)
	}
	return loc
}

// browserURL checks that a URL handed to the browser is public: a browser
// can never reach the provider's internal address.
func (e *Env) browserURL(u string) string {
	e.T.Helper()
	if e.ProviderInternalURL != e.ProviderURL && strings.HasPrefix(u, e.ProviderInternalURL) {
		e.T.Fatalf("flowtest: browser sent to the provider's internal URL %s", u)
	}
	return u
}

func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
