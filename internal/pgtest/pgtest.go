// Package pgtest runs a real PostgreSQL server for tests: a fresh cluster
// (initdb) in its own temporary directory, listening on a free loopback port,
// killed when the test ends. Provisioning is tested against PostgreSQL itself,
// not a fake that may disagree on ON CONFLICT, quoting or types.
//
// The server binaries come from $AUTHGATE_PG_BIN (a directory), else the
// newest /usr/lib/postgresql/<version>/bin (Debian's postgresql package), else
// PATH. Missing binaries fail the test: it is never skipped.
//
// PostgreSQL refuses to run as root. When the tests run as root, initdb and
// the server run as the "postgres" user (the Debian package creates it) in a
// directory owned by that user. The server is started directly rather than
// through pg_ctl or runuser, both of which leave a process the kernel does not
// tie to the test: here it is a child of the test binary with a parent-death
// signal, so a test killed mid-run leaves no server holding a port.
//
//	pg := pgtest.Start(t)
//	db := pg.DB(t)             // *sql.DB (lib/pq) on the "postgres" database
//	url := pg.URL()            // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/authgate/authgate/internal/testproc"
)

// BinEnv names the environment variable holding the directory of initdb and postgres.
const BinEnv = "AUTHGATE_PG_BIN"

const (
	readyTimeout  = 30 * time.Second
	startAttempts = 3
)

// Server is one running PostgreSQL cluster on 127.0.0.1.
type Server struct {
	port int
	dir  string
	log  string
}

// URL is a connection URL for the superuser "postgres" on database "postgres".
func (s *Server) URL() string { return s.DatabaseURL("postgres") }

// DatabaseURL is a connection URL for database db.
func (s *Server) DatabaseURL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// DB returns a database/sql handle (lib/pq) on the "postgres" database,
// closed at the end of the test.
func (s *Server) DB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := open(s.URL())
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs SQL statements on the "postgres" database. Without args, several
// statements separated by semicolons run in one go.
func (s *Server) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := open(s.URL())
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", firstLine(query), err)
	}
}

// open returns a handle on url; it does not connect.
func open(url string) (*sql.DB, error) {
	c, err := pq.NewConnector(url)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Start creates a cluster and starts the server; t.Cleanup stops it and
// removes its files.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir(t)
	cred := credential(t)

	// Not t.TempDir: its parents are private to root, and the server may run
	// as another user who must reach the data directory.
	dir, err := os.MkdirTemp("", "authgate-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgtest: chown %s: %v", dir, err)
		}
	}
	s := &Server{dir: dir, log: filepath.Join(dir, "postgres.log")}
	data := filepath.Join(dir, "data")

	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	setCred(initdb, cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}

	var lastErr error
	for range startAttempts {
		port, err := testproc.FreePort()
		if err != nil {
			t.Fatalf("pgtest: free port: %v", err)
		}
		stop, err := s.launch(bin, data, port, cred)
		if err == nil {
			s.port = port
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("pgtest: tail of %s:\n%s", s.log, testproc.Tail(s.log, 30))
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("pgtest: start postgres: %v\n%s", lastErr, testproc.Tail(s.log, 30))
	return nil
}

// launch runs the postmaster in the foreground (fsync off: the data is thrown
// away) and waits until it accepts connections.
func (s *Server) launch(bin, data string, port int, cred *syscall.Credential) (func(), error) {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		_ = os.Chown(s.log, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-k", s.dir, // Unix socket in our directory, not /var/run/postgresql
		"-F", "-c", "full_page_writes=off", "-c", "max_connections=50")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	setCred(cmd, cred)
	p, err := testproc.Start(cmd, syscall.SIGKILL)
	logf.Close() // the server has its own descriptor
	if err != nil {
		return nil, err
	}
	stop := func() {
		// SIGQUIT is PostgreSQL's immediate shutdown; SIGKILL if it lingers.
		p.Stop(syscall.SIGQUIT, 10*time.Second)
	}
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port)
	err = p.WaitReady(readyTimeout, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		db, err := open(url)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	})
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// binDir finds initdb and postgres.
func binDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(BinEnv); d != "" {
		return d
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatalf("pgtest: PostgreSQL server binaries (initdb, postgres) not found in $%s, /usr/lib/postgresql/*/bin or PATH; install them (Debian/Ubuntu: apt-get install postgresql) — the provisioning tests must run, they are never skipped", BinEnv)
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// credential returns the postgres user's credential when running as root
// (PostgreSQL refuses root), nil otherwise.
func credential(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("pgtest: running as root needs the \"postgres\" user to run the server as (Debian's postgresql package creates it): %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
}

// setCred runs cmd as cred and has the kernel kill it if the test binary dies
// without running its cleanups.
func setCred(cmd *exec.Cmd, cred *syscall.Credential) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	testproc.DieWithParent(cmd, syscall.SIGKILL)
	// HOME and friends of root are not readable by postgres; keep a minimal env.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
