package proxy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
)

// api is what fetch() from the app sends.
var api = []string{"Accept", "application/json", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin"}

// rawRequest sends target exactly as given on the request line (no client
// cleaning or re-encoding) with header lines, and returns the answer.
func rawRequest(t *testing.T, env *flowtest.Env, method, target string, header ...string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", env.Server.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, env.Server.Listener.Addr())
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

func wantError(t *testing.T, what string, status int, body []byte, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d; body %s", what, status, wantStatus, body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error != code {
		t.Fatalf("%s: body %s, want error %q", what, body, code)
	}
}

// sessionCookie returns "name=value" of a logged-in browser's access cookie.
func sessionCookie(b *flowtest.Browser) string {
	name := b.Env.Jar.Auth.Name
	return name + "=" + b.Cookie(name, "/")
}
