package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
	pool  *pgxpool.Pool
	sql   string
	cols  []string // fields, in parameter order
	table string   // quoted, for messages
}

// NewPostgres prepares the sink. It does not connect: the pool dials on first
// use, so a database that is down at start-up delays nothing but the upserts
// (see Check).
func NewPostgres(o PostgresOptions) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("provision: postgres: invalid connection URL")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if cfg.MaxConns > 8 {
		cfg.MaxConns = 8 // one upsert per login; a sidecar needs few connections
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "authgate"
	p := &Postgres{}
	if err := p.build(o.Table, o.Columns); err != nil {
		return nil, err
	}
	if p.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		return nil, fmt.Errorf("provision: postgres: %w", err)
	}
	return p, nil
}

// build writes the upsert statement. Identifiers are quoted (pgx.Identifier),
// so a configured name keeps its case ("organizationId") and cannot inject SQL.
func (p *Postgres) build(table string, columns map[string]string) error {
	parts := strings.Split(table, ".")
	if table == "" || len(parts) > 2 {
		return fmt.Errorf("provision: postgres: table %q must be table or schema.table", table)
	}
	p.table = pgx.Identifier(parts).Sanitize()
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
		q := pgx.Identifier{c}.Sanitize()
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
		pgx.Identifier{col(FieldID)}.Sanitize(), strings.Join(updates, ", "))
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
	if _, err := p.pool.Exec(ctx, p.sql, args...); err != nil {
		return fmt.Errorf("upsert into %s: %w", p.table, err)
	}
	return nil
}

// Check verifies that the table and columns exist, without writing: run at
// start-up so a misnamed column is reported before the first login.
func (p *Postgres) Check(ctx context.Context) error {
	// The upsert itself, against no row: PREPARE resolves every name.
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("provision: postgres: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Conn().Prepare(ctx, "authgate_provision_check", p.sql); err != nil {
		return fmt.Errorf("provision: postgres: %s: %w", p.table, err)
	}
	_ = conn.Conn().Deallocate(ctx, "authgate_provision_check")
	return nil
}

// SQL returns the upsert statement (for logs and tests).
func (p *Postgres) SQL() string { return p.sql }

// Close closes the connection pool.
func (p *Postgres) Close() { p.pool.Close() }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
