package provision_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/pgtest"
	"github.com/authgate/authgate/provision"
)

type row struct {
	ID, Email, Name, Org *string
	LastLogin            time.Time
}

func readRow(t *testing.T, db *sql.DB, query, id string) (row, bool) {
	t.Helper()
	var r row
	err := db.QueryRowContext(context.Background(), query, id).Scan(&r.ID, &r.Email, &r.Name, &r.Org, &r.LastLogin)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, false
		}
		t.Fatalf("query: %v", err)
	}
	return r, true
}

func str(p *string) string {
	if p == nil {
		return "<NULL>"
	}
	return *p
}

func TestPostgresUpsert(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.DB(t)
	ctx := context.Background()

	t.Run("seed table, default columns", func(t *testing.T) {
		// The seed's table: camelCase columns, quoted.
		pg.Exec(t, `CREATE TABLE users (
			"id" text PRIMARY KEY, "email" text, "name" text, "organizationId" text,
			"lastLoginAt" timestamptz NOT NULL, "createdAt" timestamptz NOT NULL DEFAULT now())`)
		s, err := provision.NewPostgres(provision.PostgresOptions{URL: pg.URL(), Table: "users"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
		q := `SELECT "id","email","name","organizationId","lastLoginAt" FROM users WHERE "id" = $1`

		first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		u := provision.User{ID: "user-1", Email: "a@example.com", Name: "Alice", OrganizationID: "org-1", LastLoginAt: first}
		if err := s.Provision(ctx, u); err != nil {
			t.Fatalf("first login: %v", err)
		}
		r, ok := readRow(t, db, q, "user-1")
		if !ok || str(r.Email) != "a@example.com" || str(r.Name) != "Alice" || str(r.Org) != "org-1" || !r.LastLogin.Equal(first) {
			t.Fatalf("after first login: %v %+v", ok, r)
		}
		var created time.Time
		_ = db.QueryRowContext(ctx, `SELECT "createdAt" FROM users WHERE "id" = 'user-1'`).Scan(&created)

		// Later login: updated in place (one row), lastLoginAt moves, and a
		// claim the token no longer carries does not erase the stored value.
		second := first.Add(time.Hour)
		u2 := provision.User{ID: "user-1", Email: "alice@new.example", Name: "", OrganizationID: "org-2", LastLoginAt: second}
		if err := s.Provision(ctx, u2); err != nil {
			t.Fatalf("second login: %v", err)
		}
		r, _ = readRow(t, db, q, "user-1")
		if str(r.Email) != "alice@new.example" || str(r.Name) != "Alice" || str(r.Org) != "org-2" || !r.LastLogin.Equal(second) {
			t.Fatalf("after second login: %+v", r)
		}
		var n int
		var created2 time.Time
		_ = db.QueryRowContext(ctx, `SELECT count(*), min("createdAt") FROM users`).Scan(&n, &created2)
		if n != 1 || !created2.Equal(created) {
			t.Fatalf("rows = %d, createdAt %v → %v (an update must not re-insert)", n, created, created2)
		}

		// First login of someone without email or name: NULLs.
		if err := s.Provision(ctx, provision.User{ID: "user-2", LastLoginAt: first}); err != nil {
			t.Fatal(err)
		}
		r, _ = readRow(t, db, q, "user-2")
		if r.Email != nil || r.Name != nil || r.Org != nil {
			t.Fatalf("absent claims stored as %+v", r)
		}

		// Hostile values are data, not SQL.
		evil := provision.User{ID: `x'); DROP TABLE users; --`, Name: `"; DELETE FROM users; --`, LastLoginAt: first}
		if err := s.Provision(ctx, evil); err != nil {
			t.Fatal(err)
		}
		_ = db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
		if n != 3 {
			t.Fatalf("rows after hostile values = %d", n)
		}
	})

	t.Run("schema table and mapped columns", func(t *testing.T) {
		pg.Exec(t, `CREATE SCHEMA app; CREATE TABLE app."Accounts" (
			user_id text NOT NULL UNIQUE, mail text, org_id text, last_seen timestamp NOT NULL)`)
		s, err := provision.NewPostgres(provision.PostgresOptions{
			URL: pg.URL(), Table: "app.Accounts",
			// name left out: the table has no such column.
			Columns: map[string]string{"id": "user_id", "email": "mail", "organizationId": "org_id", "lastLoginAt": "last_seen"},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !strings.Contains(s.SQL(), `"app"."Accounts"`) || strings.Contains(s.SQL(), `"name"`) {
			t.Fatalf("SQL: %s", s.SQL())
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
		for i := range 2 {
			at := time.Date(2026, 3, 1, 0, 0, i, 0, time.UTC)
			if err := s.Provision(ctx, provision.User{ID: "u", Email: "u@example.com", Name: "ignored", OrganizationID: "o", LastLoginAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		var seen time.Time
		if err := db.QueryRowContext(ctx, `SELECT count(*), max(last_seen) FROM app."Accounts"`).Scan(&n, &seen); err != nil || n != 1 || seen.Second() != 1 {
			t.Fatalf("rows %d, last_seen %v, %v", n, seen, err)
		}
	})

	t.Run("misconfigured", func(t *testing.T) {
		s, err := provision.NewPostgres(provision.PostgresOptions{URL: pg.URL(), Table: "users", Columns: map[string]string{"id": "id", "lastLoginAt": "no_such_column"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "no_such_column") {
			t.Fatalf("Check with a missing column: %v", err)
		}
		if err := s.Provision(ctx, provision.User{ID: "x", LastLoginAt: time.Now()}); err == nil {
			t.Fatal("upsert into a missing column succeeded")
		}
		if _, err := provision.NewPostgres(provision.PostgresOptions{URL: "postgres://u:secret-pw@[bad", Table: "users"}); err == nil || strings.Contains(err.Error(), "secret-pw") {
			t.Fatalf("bad URL: %v", err)
		}
		if _, err := provision.NewPostgres(provision.PostgresOptions{URL: pg.URL(), Table: "a.b.c"}); err == nil {
			t.Fatal("three-part table name accepted")
		}
		// PostgreSQL names cannot hold NUL; quoting would cut the name there
		// and write to another table or column.
		for _, o := range []provision.PostgresOptions{
			{URL: pg.URL(), Table: "users\x00; DROP TABLE users"},
			{URL: pg.URL(), Table: "app.users\x00x"},
			{URL: pg.URL(), Table: "users", Columns: map[string]string{"id": "id", "email": "mail\x00x", "lastLoginAt": "lastLoginAt"}},
			{URL: pg.URL(), Table: "users", Columns: map[string]string{"id": "id\x00", "lastLoginAt": "lastLoginAt"}},
		} {
			if _, err := provision.NewPostgres(o); err == nil || !strings.Contains(err.Error(), "NUL") {
				t.Errorf("NUL in table %q, columns %q: %v", o.Table, o.Columns, err)
			}
		}
	})

	t.Run("sslmode defaults to prefer", func(t *testing.T) {
		// The test server has no TLS. A URL that names no sslmode works
		// against it, as with libpq (psql) and pgx: prefer, not lib/pq's
		// own default of require, which would fail here.
		provision.UnsetPGEnv(t)
		pg.Exec(t, `CREATE TABLE plain (id text PRIMARY KEY, "lastLoginAt" timestamptz NOT NULL)`)
		url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", pg.Port())
		s, err := provision.NewPostgres(provision.PostgresOptions{URL: url, Table: "plain", Columns: map[string]string{"id": "id", "lastLoginAt": "lastLoginAt"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check without sslmode: %v", err)
		}
		if err := s.Provision(ctx, provision.User{ID: "p", LastLoginAt: time.Now()}); err != nil {
			t.Fatalf("upsert without sslmode: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM plain WHERE id = 'p'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows %d, %v", n, err)
		}
		// The sink's connections stay open, named authgate, without TLS.
		var conns, ssl int
		err = db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE s.ssl)
			FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'authgate'`).Scan(&conns, &ssl)
		if err != nil || conns == 0 || ssl != 0 {
			t.Fatalf("connections named authgate: %d (%d with TLS), %v", conns, ssl, err)
		}
	})

	t.Run("one round trip per upsert", func(t *testing.T) {
		// Through a relay that counts the client's Sync messages: each is
		// one wait for the server. A login's upsert must not prepare first
		// and then execute (two), as lib/pq does without binary_parameters.
		relay := newSyncCounter(t, pg.Port())
		s, err := provision.NewPostgres(provision.PostgresOptions{
			URL: fmt.Sprintf("postgres://postgres@%s/postgres", relay.addr), Table: "users"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u := provision.User{ID: "user-rt", Email: "rt@example.com", LastLoginAt: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
		if err := s.Provision(ctx, u); err != nil { // connects
			t.Fatal(err)
		}
		before := relay.syncs.Load()
		u.LastLoginAt = u.LastLoginAt.Add(time.Minute)
		if err := s.Provision(ctx, u); err != nil {
			t.Fatal(err)
		}
		if n := relay.syncs.Load() - before; n != 1 {
			t.Fatalf("one upsert took %d round trips, want 1", n)
		}
		r, ok := readRow(t, db, `SELECT "id","email","name","organizationId","lastLoginAt" FROM users WHERE "id" = $1`, "user-rt")
		if !ok || str(r.Email) != "rt@example.com" || !r.LastLogin.Equal(u.LastLoginAt) {
			t.Fatalf("row after the upsert: %v %+v", ok, r)
		}
	})

	t.Run("database down", func(t *testing.T) {
		// Nothing listens there: the upsert fails within the context, it
		// does not hang.
		s, err := provision.NewPostgres(provision.PostgresOptions{URL: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable", Table: "users"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		began := time.Now()
		if err := s.Provision(ctx, provision.User{ID: "x", LastLoginAt: time.Now()}); err == nil {
			t.Fatal("upsert without a database succeeded")
		}
		if time.Since(began) > 3*time.Second {
			t.Fatalf("failing upsert took %v", time.Since(began))
		}
	})
}

// syncCounter relays TCP connections to a PostgreSQL server and counts the
// Sync messages clients send after their start-up.
type syncCounter struct {
	addr  string
	syncs atomic.Int64
}

func newSyncCounter(t *testing.T, port int) *syncCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	c := &syncCounter{addr: ln.Addr().String()}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				_ = client.Close()
				continue
			}
			go func() { _, _ = io.Copy(client, server); _ = client.Close() }()
			go func() { c.count(client, server); _ = server.Close() }()
		}
	}()
	return c
}

// count copies the client's messages to the server one by one. The first
// ones (SSLRequest, StartupMessage) have no type byte; every later one is a
// type byte and a length that counts itself.
func (c *syncCounter) count(client io.Reader, server io.Writer) {
	r := bufio.NewReader(client)
	typed := false
	for {
		var head []byte
		if typed {
			typ, err := r.ReadByte()
			if err != nil {
				return
			}
			head = []byte{typ}
		}
		var n [4]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(n[:])-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		msg := append(append(head, n[:]...), body...)
		if _, err := server.Write(msg); err != nil {
			return
		}
		switch {
		case typed && head[0] == 'S':
			c.syncs.Add(1)
		case !typed && len(body) >= 4:
			// 80877103 asks for TLS and 80877104 for GSS encryption; any
			// other code is the start-up message itself.
			code := binary.BigEndian.Uint32(body)
			typed = code != 80877103 && code != 80877104
		}
	}
}
