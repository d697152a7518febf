package provision

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

// UnsetPGEnv removes the PG* environment variables, which lib/pq reads as
// libpq does, for the rest of the test (for provision_test too).
func UnsetPGEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") {
			t.Setenv(k, "") // restored at the end of the test
			os.Unsetenv(k)
		}
	}
}

func TestPostgresConfigSSLMode(t *testing.T) {
	for _, c := range []struct {
		name, dsn, env string // env: PGSSLMODE, unset if empty
		want           pq.SSLMode
	}{
		// Nothing names one: libpq's prefer, not lib/pq's require.
		{"url without", "postgres://u:pw@db.example:5432/app", "", pq.SSLModePrefer},
		{"url without, other params", "postgresql://u@db.example/app?connect_timeout=3&search_path=x", "", pq.SSLModePrefer},
		{"key=value without", "host=db.example user=u dbname=app", "", pq.SSLModePrefer},
		{"empty", "", "", pq.SSLModePrefer},

		// Named in the URL or string: kept, whatever its value.
		{"url disable", "postgres://u@db.example/app?sslmode=disable", "", pq.SSLModeDisable},
		{"url require", "postgres://u@db.example/app?sslmode=require", "", pq.SSLModeRequire},
		{"url verify-full", "postgres://u@db.example/app?connect_timeout=3&sslmode=verify-full", "", pq.SSLModeVerifyFull},
		{"url prefer", "postgres://u@db.example/app?sslmode=prefer", "", pq.SSLModePrefer},
		{"key=value require", "host=db.example sslmode=require dbname=app", "", pq.SSLModeRequire},
		{"key=value verify-ca quoted", "host=db.example sslmode='verify-ca'", "", pq.SSLModeVerifyCA},
		{"key=value disable", "sslmode=disable host=db.example", "", pq.SSLModeDisable},

		// PGSSLMODE names one when the DSN does not; the DSN wins over it.
		{"env require, url without", "postgres://u@db.example/app", "require", pq.SSLModeRequire},
		{"env disable, key=value without", "host=db.example", "disable", pq.SSLModeDisable},
		{"env require, url disable", "postgres://u@db.example/app?sslmode=disable", "require", pq.SSLModeDisable},
		{"env disable, key=value verify-full", "host=db.example sslmode=verify-full", "disable", pq.SSLModeVerifyFull},

		// lib/pq's own choices when none is named: sslrootcert=system asks
		// for verify-full, a Unix socket for none.
		{"sslrootcert=system", "postgres://u@db.example/app?sslrootcert=system", "", pq.SSLModeVerifyFull},
		{"unix socket", "host=/var/run/postgresql dbname=app", "", pq.SSLModeDisable},
	} {
		t.Run(c.name, func(t *testing.T) {
			UnsetPGEnv(t)
			if c.env != "" {
				t.Setenv("PGSSLMODE", c.env)
			}
			cfg, err := postgresConfig(c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SSLMode != c.want {
				t.Errorf("sslmode %q, want %q", cfg.SSLMode, c.want)
			}
		})
	}
}

func TestPostgresConfigDefaults(t *testing.T) {
	UnsetPGEnv(t)
	for _, c := range []struct {
		dsn     string
		timeout time.Duration
	}{
		{"postgres://u@db.example/app", 5 * time.Second},
		{"postgres://u@db.example/app?connect_timeout=0", 5 * time.Second},
		{"postgres://u@db.example/app?connect_timeout=12", 12 * time.Second},
		{"host=db.example connect_timeout=3", 3 * time.Second},
		{"postgres://u@db.example/app?application_name=other", 5 * time.Second},
		{"host=db.example fallback_application_name=other", 5 * time.Second},
		{"postgres://u@db.example/app?binary_parameters=no", 5 * time.Second},
	} {
		cfg, err := postgresConfig(c.dsn)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		if cfg.ConnectTimeout != c.timeout || cfg.ApplicationName != "authgate" || !cfg.BinaryParameters {
			t.Errorf("%s: connect timeout %v, application name %q, binary parameters %v",
				c.dsn, cfg.ConnectTimeout, cfg.ApplicationName, cfg.BinaryParameters)
		}
	}
	t.Setenv("PGCONNECT_TIMEOUT", "7")
	if cfg, err := postgresConfig("postgres://u@db.example/app"); err != nil || cfg.ConnectTimeout != 7*time.Second {
		t.Errorf("PGCONNECT_TIMEOUT=7: %v, %v", cfg.ConnectTimeout, err)
	}
}

func TestPostgresConfigInvalid(t *testing.T) {
	UnsetPGEnv(t)
	for _, dsn := range []string{
		"postgres://u:secret-pw@[bad",
		"postgres://u:secret-pw@db.example/app?sslmode=secret-pw",
		"postgres://u:secret-pw@db.example:port/app",
		"host=db.example password='secret-pw",
		"host=db.example password=secret-pw sslmode=bogus",
		"mysql://u:secret-pw@db.example/app",
	} {
		_, err := postgresConfig(dsn)
		if err != errInvalidURL {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	// A PG* variable lib/pq refuses gets the same error, which names them.
	t.Setenv("PGSSLMODE", "")
	if _, err := postgresConfig("postgres://u:secret-pw@db.example/app"); err != errInvalidURL || !strings.Contains(err.Error(), "PG*") {
		t.Errorf("PGSSLMODE set but empty: %v", err)
	}
}
