package pgtest_test

import (
	"context"
	"testing"

	"github.com/authgate/authgate/internal/pgtest"
)

func TestStart(t *testing.T) {
	pg := pgtest.Start(t)
	pg.Exec(t, `CREATE TABLE t (id text PRIMARY KEY)`)
	var n int
	if err := pg.DB(t).QueryRowContext(context.Background(), `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count = %d, %v", n, err)
	}
}
