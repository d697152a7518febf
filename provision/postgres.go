package provision

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Fields a sink writes, and the default column of each (the seed's names).
const (
	FieldID             = "id"
	FieldEmail          = "email"
	FieldName           = "name"
	FieldOrganizationID = "organizationId"
	FieldLastLoginAt    = "lastLoginAt"
)

var fieldOrder = []string{FieldID, FieldEmail, FieldName, FieldOrganizationID, FieldLastLoginAt}

// PostgresOptions configure the PostgreSQL sink.
type PostgresOptions struct {
	// URL is a postgres:// connection URL.
	URL string
	// Table is "table" or "schema.table"; it needs a primary key or unique
	// constraint on the id column.
	Table string
	// Columns maps fields to columns; a field missing from the map is not
	// written, except id and lastLoginAt, which default to their own names.
	// nil means every field under its own name.
	Columns map[string]string
}

// Postgres upserts the user into a table: inserted on the first login,
// updated on later ones. A field the token does not carry (an empty email,
// say) is inserted as NULL and never overwrites a stored value.
type Postgres struct {
	db    *sql.DB
	sql   string
	cols  []string // fields, in parameter order
	table string   // quoted, for messages
}

// NewPostgres prepares the sink. It does not connect: database/sql dials on
// first use, so a database that is down at start-up delays nothing but the
// upserts (see Check).
func NewPostgres(o PostgresOptions) (*Postgres, error) {
	cfg, err := postgresConfig(o.URL)
	if err != nil {
		return nil, err
	}
	p := &Postgres{}
	if err := p.build(o.Table, o.Columns); err != nil {
		return nil, err
	}
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, errInvalidURL
	}
	p.db = sql.OpenDB(c)
	// One upsert per login; a sidecar needs few connections. Up to all of
	// them stay open between logins (database/sql keeps two by default), for
	// at most 30 minutes idle and an hour in all.
	p.db.SetMaxOpenConns(8)
	p.db.SetMaxIdleConns(8)
	p.db.SetConnMaxIdleTime(30 * time.Minute)
	p.db.SetConnMaxLifetime(time.Hour)
	return p, nil
}

// errInvalidURL is every refusal of the connection settings. lib/pq also
// refuses some PG* environment variables (set but empty, or ones it does not
// support, such as PGGSSENCMODE), so the message names them too.
var errInvalidURL = errors.New("provision: postgres: invalid connection URL (or a PG* environment variable lib/pq refuses)")

// postgresConfig parses a connection URL (or key=value string) the way lib/pq
// does, PG* environment variables, ~/.pgpass and service files included, and
// applies authgate's defaults.
func postgresConfig(dsn string) (pq.Config, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		// lib/pq's message may quote the URL, password included.
		return pq.Config{}, errInvalidURL
	}
	// lib/pq leaves SSLMode empty when nothing named one (neither the URL,
	// nor PGSSLMODE, nor a service file; sslrootcert=system makes it
	// verify-full, a Unix socket disable) and then requires TLS. libpq's
	// default (psql's) is prefer: TLS when the server offers it, plain
	// otherwise. Keep that, so a URL that works with psql works here.
	if cfg.SSLMode == "" {
		cfg.SSLMode = pq.SSLModePrefer
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	cfg.ApplicationName = "authgate"
	// Send the upsert's parse, bind and execute together and wait once.
	// Without it lib/pq prepares a statement, waits, then executes it: two
	// round trips per login. Only []byte arguments would change encoding,
	// and the upsert has none.
	cfg.BinaryParameters = true
	return cfg, nil
}

// build writes the upsert statement. Identifiers are quoted
// (pq.QuoteIdentifier), so a configured name keeps its case ("organizationId")
// and cannot inject SQL.
func (p *Postgres) build(table string, columns map[string]string) error {
	parts := strings.Split(table, ".")
	if table == "" || len(parts) > 2 {
		return fmt.Errorf("provision: postgres: table %q must be table or schema.table", table)
	}
	// PostgreSQL names cannot hold NUL, and pq.QuoteIdentifier would cut the
	// name there: refuse it rather than write to another table or column.
	if strings.ContainsRune(table, 0) {
		return fmt.Errorf("provision: postgres: table %q contains a NUL byte", table)
	}
	for i, part := range parts {
		parts[i] = pq.QuoteIdentifier(part)
	}
	p.table = strings.Join(parts, ".")
	col := func(f string) string {
		if columns == nil {
			return f
		}
		c := columns[f]
		if c == "" && (f == FieldID || f == FieldLastLoginAt) {
			return f
		}
		return c
	}
	var names, params, updates []string
	for _, f := range fieldOrder {
		c := col(f)
		if c == "" {
			continue
		}
		if strings.ContainsRune(c, 0) {
			return fmt.Errorf("provision: postgres: column %q (field %s) contains a NUL byte", c, f)
		}
		q := pq.QuoteIdentifier(c)
		p.cols = append(p.cols, f)
		names = append(names, q)
		params = append(params, fmt.Sprintf("$%d", len(params)+1))
		switch f {
		case FieldID:
		case FieldLastLoginAt:
			updates = append(updates, q+" = EXCLUDED."+q)
		default:
			updates = append(updates, fmt.Sprintf("%s = COALESCE(EXCLUDED.%s, %s.%s)", q, q, p.table, q))
		}
	}
	p.sql = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		p.table, strings.Join(names, ", "), strings.Join(params, ", "),
		pq.QuoteIdentifier(col(FieldID)), strings.Join(updates, ", "))
	return nil
}

// Name implements Sink.
func (p *Postgres) Name() string { return "postgres" }

// Provision implements Sink.
func (p *Postgres) Provision(ctx context.Context, u User) error {
	if u.ID == "" {
		return errors.New("no subject")
	}
	args := make([]any, len(p.cols))
	for i, f := range p.cols {
		switch f {
		case FieldID:
			args[i] = u.ID
		case FieldEmail:
			args[i] = nullable(u.Email)
		case FieldName:
			args[i] = nullable(u.Name)
		case FieldOrganizationID:
			args[i] = nullable(u.OrganizationID)
		case FieldLastLoginAt:
			args[i] = u.LastLoginAt
		}
	}
	if _, err := p.db.ExecContext(ctx, p.sql, args...); err != nil {
		return fmt.Errorf("upsert into %s: %w", p.table, err)
	}
	return nil
}

// Check verifies that the table and columns exist, without writing: run at
// start-up so a misnamed column is reported before the first login.
func (p *Postgres) Check(ctx context.Context) error {
	// A connection of its own first, so that the database being unreachable
	// reads differently from a wrong name.
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("provision: postgres: connect: %w", err)
	}
	defer conn.Close()
	// The upsert itself, prepared and never executed: PREPARE resolves every
	// name.
	st, err := conn.PrepareContext(ctx, p.sql)
	if err != nil {
		return fmt.Errorf("provision: postgres: %s: %w", p.table, err)
	}
	_ = st.Close()
	return nil
}

// SQL returns the upsert statement (for logs and tests).
func (p *Postgres) SQL() string { return p.sql }

// Close closes the connection pool.
func (p *Postgres) Close() { _ = p.db.Close() }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
