package provision_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/flowtest"
	"github.com/authgate/authgate/internal/pgtest"
)

// TestLoginProvisions: a login through authgate upserts the user into a real
// PostgreSQL and delivers a signed webhook; a second login updates the row.
func TestLoginProvisions(t *testing.T) {
	pg := pgtest.Start(t)
	pg.Exec(t, `CREATE TABLE members (sub text PRIMARY KEY, email text, "name" text, org text, "lastLoginAt" timestamptz NOT NULL)`)
	hook := newReceiver(t)
	env := flowtest.New(t, flowtest.Options{Env: map[string]string{
		"AUTHGATE_PROVISION_POSTGRES_URL":     pg.URL(),
		"AUTHGATE_PROVISION_POSTGRES_TABLE":   "members",
		"AUTHGATE_PROVISION_POSTGRES_COLUMNS": "id=sub,organizationId=org",
		"AUTHGATE_PROVISION_WEBHOOK_URL":      hook.URL,
		"AUTHGATE_PROVISION_WEBHOOK_SECRET":   string(secret),
	}})
	db := pg.DB(t)
	q := `SELECT sub, email, "name", org, "lastLoginAt" FROM members WHERE sub = $1`

	env.NewBrowser().LoginAs("alice")
	var r row
	var ok bool
	waitFor(t, "first upsert", func() bool {
		var sub string
		if db.QueryRowContext(context.Background(), `SELECT sub FROM members LIMIT 1`).Scan(&sub) != nil {
			return false
		}
		r, ok = readRow(t, db, q, sub)
		return ok
	})
	if str(r.Email) != "alice@example.com" || str(r.Name) != "Alice Admin" || str(r.Org) != "org-1" {
		t.Fatalf("row after login: %+v", r)
	}
	waitFor(t, "webhook", func() bool { return len(hook.got()) == 1 })
	if d := hook.got()[0]; d.sigOK != "ok" || d.body.User.Email != "alice@example.com" || d.body.User.Role != "admin" {
		t.Fatalf("webhook delivery: %+v", d)
	}

	first := r.LastLogin
	env.Clock.Advance(time.Minute)
	env.NewBrowser().LoginAs("alice")
	waitFor(t, "second upsert", func() bool { r, _ = readRow(t, db, q, *r.ID); return r.LastLogin.After(first) })
	var n int
	_ = db.QueryRowContext(context.Background(), `SELECT count(*) FROM members`).Scan(&n)
	if n != 1 || len(hook.got()) < 1 {
		t.Fatalf("rows %d after two logins of one user", n)
	}
	// Neither the user's email nor the webhook secret goes to the log.
	if logs := env.Logs.String(); strings.Contains(logs, string(secret)) {
		t.Error("webhook secret in the log")
	}
}

// TestFailingSinkDoesNotBlockLogin, unless provisioning is required.
func TestFailingSinkDoesNotBlockLogin(t *testing.T) {
	down := newReceiver(t)
	down.answer = func(int, http.ResponseWriter) int { return http.StatusInternalServerError }
	base := map[string]string{
		"AUTHGATE_PROVISION_WEBHOOK_URL":     down.URL,
		"AUTHGATE_PROVISION_WEBHOOK_SECRET":  string(secret),
		"AUTHGATE_PROVISION_WEBHOOK_RETRIES": "0",
	}
	env := flowtest.New(t, flowtest.Options{Env: base})
	b := env.NewBrowser()
	b.LoginAs("alice") // fails the test if the login does not complete
	if r := b.Get("/x", "Accept", "application/json"); r.StatusCode != http.StatusOK {
		t.Fatalf("after login with a failing sink: %d", r.StatusCode)
	}
	waitFor(t, "failure logged", func() bool { return strings.Contains(env.Logs.String(), "provisioning failed") })

	req := map[string]string{"AUTHGATE_PROVISION_REQUIRED": "true"}
	for k, v := range base {
		req[k] = v
	}
	strict := flowtest.New(t, flowtest.Options{Env: req})
	sb := strict.NewBrowser()
	cb := sb.Callback(sb.Authorize(sb.StartLogin("/")))
	if cb.StatusCode != http.StatusBadGateway || !strings.Contains(string(cb.Body), "provisioning_failed") {
		t.Fatalf("required provisioning with a failing sink: %d %s", cb.StatusCode, cb.Body)
	}
	if sb.Cookie(strict.Jar.Auth.Name, "/") != "" {
		t.Fatal("session cookie set although provisioning failed")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
