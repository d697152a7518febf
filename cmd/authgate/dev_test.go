package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testproc"
)

// TestDevCommand is README command 1 as a person uses it: `authgate dev`
// prints a URL and a login, and logging in with it through the embedded
// provider's form shows the identity on the demo app.
func TestDevCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &testproc.Buffer{}, &testproc.Buffer{}
	done := make(chan int, 1)
	noEnv := func(string) (string, bool) { return "", false }
	go func() {
		done <- run(ctx, []string{"dev", "--listen", "127.0.0.1:0", "--provider-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, noEnv, out, errOut)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("authgate dev exited %d: %s", code, errOut.String())
			}
		case <-time.After(25 * time.Second):
			t.Error("authgate dev did not stop on cancel")
		}
	})

	open := regexp.MustCompile(`Open\s+(http://127\.0\.0\.1:\d+)/`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := open.FindStringSubmatch(out.String()); m != nil && strings.Contains(errOut.String(), "authgate listening") {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("authgate dev printed no URL:\n%s\n%s", out.String(), errOut.String())
	}
	for _, want := range []string{"NOT FOR PRODUCTION", "alice / alice"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// Follow redirects from the app to the provider's login form.
	next := base + "/"
	var form string
	for i := 0; i < 5; i++ {
		resp, body := get(next)
		if resp.StatusCode == http.StatusOK {
			form = body
			break
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("GET %s: %d without Location", next, resp.StatusCode)
		}
		next = loc.String()
	}
	if !strings.Contains(form, `name="password"`) {
		t.Fatalf("no login form reached (last URL %s)", next)
	}
	vals := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(form, -1) {
		vals.Set(m[1], html.UnescapeString(m[2]))
	}
	vals.Set("username", "alice")
	vals.Set("password", "alice")
	action, _ := url.Parse(next)
	resp, err := c.PostForm(action.Scheme+"://"+action.Host+action.Path, vals)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("login form answered %d without redirect", resp.StatusCode)
	}
	// Callback → completion page; the page's script would POST the code.
	resp, _ = get(loc.String())
	complete, err := resp.Location()
	if err != nil || complete.Query().Get("exchange") == "" {
		t.Fatalf("callback: %d %v", resp.StatusCode, complete)
	}
	body, _ := json.Marshal(map[string]string{"code": complete.Query().Get("exchange")})
	req, _ := http.NewRequest("POST", base+"/auth/exchange", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	resp, page := get(base + "/hello")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("demo app: %d", resp.StatusCode)
	}
	for _, want := range []string{"Hello, Alice Admin", "<th>X-Role</th><td>admin</td>", "<th>X-User-Email</th><td>alice@example.com</td>", "<th>X-Org-Id</th><td>org-1</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("demo page lacks %q", want)
		}
	}
	if strings.Contains(page, "authgate_auth=") {
		t.Error("demo app received authgate's cookie")
	}
}

func TestDevRefusesProduction(t *testing.T) {
	for _, env := range []map[string]string{{"NODE_ENV": "production"}, {"AUTHGATE_PRODUCTION": "true"}} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"dev", "--listen", "127.0.0.1:0"}, func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), "refusing to run") {
			t.Errorf("%v: exit %d, stderr %q", env, code, errOut.String())
		}
	}
}
