package store_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/store/storetest"
)

// newRedis connects a store to url and closes it when the test ends.
func newRedis(t *testing.T, rawURL string, opts store.RedisOptions) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(t.Context(), rawURL, opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// rawClient talks to the server directly, bypassing the store, to observe
// what the store really wrote.
func rawClient(t *testing.T, addr string, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t,
		func(t *testing.T) store.Store { return newRedis(t, srv.URL(), store.RedisOptions{}) },
		// Redis expiry runs on the server's real clock.
		func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	)
}

func TestRedisKeyPrefix(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	raw := rawClient(t, srv.Addr(), 0)

	for _, tc := range []struct{ prefix, want string }{
		{"", "authgate:k"},
		{"tenant-a:", "tenant-a:k"},
	} {
		s := newRedis(t, srv.URL(), store.RedisOptions{KeyPrefix: tc.prefix})
		if err := s.Put(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got, err := raw.Get(ctx, tc.want).Result(); err != nil || got != "v" {
			t.Errorf("prefix %q: raw GET %s = %q, %v; want \"v\"", tc.prefix, tc.want, got, err)
		}
		if ttl, err := raw.PTTL(ctx, tc.want).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
			t.Errorf("prefix %q: raw PTTL = %v, %v; want (0, 1m]", tc.prefix, ttl, err)
		}
	}
	if n, err := raw.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("unprefixed key exists (%d, %v); the prefix was not applied", n, err)
	}

	// Keys outside the prefix are invisible to the store.
	s := newRedis(t, srv.URL(), store.RedisOptions{KeyPrefix: "tenant-b:"})
	if err := raw.Set(ctx, "other", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(unprefixed key) error = %v, want ErrNotFound", err)
	}
}

// TestRedisTakeWithoutTTL: every value the store writes has a TTL, so a key
// without one was planted by something else and must not be redeemable.
func TestRedisTakeWithoutTTL(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	s := newRedis(t, srv.URL(), store.RedisOptions{KeyPrefix: "p:"})
	raw := rawClient(t, srv.Addr(), 0)
	if err := raw.Set(ctx, "p:forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "forever"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take(key without TTL) error = %v, want ErrNotFound", err)
	}
}

func TestRedisDatabaseAndCredentials(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	raw := rawClient(t, srv.Addr(), 0)
	host := strings.TrimPrefix(srv.URL(), "redis://")

	// The database number in the path selects the database.
	s := newRedis(t, "redis://"+host+"/3", store.RedisOptions{KeyPrefix: "p:"})
	if err := s.Put(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, _ := raw.Exists(ctx, "p:k").Result(); n != 0 {
		t.Error("value written to database 0, want database 3")
	}
	if got, err := rawClient(t, srv.Addr(), 3).Get(ctx, "p:k").Result(); err != nil || got != "v" {
		t.Errorf("database 3 GET = %q, %v; want \"v\"", got, err)
	}

	// Credentials in the URL authenticate; wrong ones fail at NewRedis,
	// without the password appearing in the error.
	const pass = "pa:ss/w@rd"
	if err := raw.Do(ctx, "ACL", "SETUSER", "alice", "on", ">"+pass, "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.ConfigSet(ctx, "requirepass", pass).Err(); err != nil {
		t.Fatal(err)
	}
	enc := url.UserPassword("alice", pass).String()
	newRedis(t, "redis://"+enc+"@"+host, store.RedisOptions{})
	newRedis(t, "redis://"+url.UserPassword("", pass).String()+"@"+host, store.RedisOptions{}) // default user

	for _, bad := range []string{
		"redis://" + host,
		"redis://" + url.UserPassword("alice", "wrong-secret").String() + "@" + host,
	} {
		r, err := store.NewRedis(ctx, bad, store.RedisOptions{})
		if err == nil {
			_ = r.Close()
			t.Fatal("NewRedis with missing or wrong password succeeded")
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("NewRedis(bad credentials) error = %v, want ErrUnavailable", err)
		}
		if strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("error echoes the password: %v", err)
		}
	}
}

// TestRedisKilled: a dead Redis must turn into a prompt ErrUnavailable (the
// login flow answers 503), and the same store must recover by itself once
// Redis is back on the same address.
func TestRedisKilled(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	s := newRedis(t, srv.URL(), store.RedisOptions{})
	if err := s.Put(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	ops := map[string]func() error{
		"Put": func() error { return s.Put(ctx, "k", []byte("v"), time.Minute) },
		"PutNew": func() error {
			_, err := s.PutNew(ctx, "n", []byte("v"), time.Minute)
			return err
		},
		"Get": func() error {
			_, err := s.Get(ctx, "k")
			return err
		},
		"Take": func() error {
			_, err := s.Take(ctx, "k")
			return err
		},
		"Delete": func() error { return s.Delete(ctx, "k") },
		"Ping":   func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		if elapsed := time.Since(start); elapsed >= 3*time.Second {
			t.Errorf("%s took %v with Redis down, want < 3s", name, elapsed)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with Redis down: error = %v, want ErrUnavailable", name, err)
		}
	}
	start := time.Now()
	if _, err := store.NewRedis(ctx, srv.URL(), store.RedisOptions{}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("NewRedis with Redis down: error = %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(start); elapsed >= 3*time.Second {
		t.Errorf("NewRedis took %v with Redis down, want < 3s", elapsed)
	}

	srv.Restart()
	// go-redis backs off dialling after repeated failures and probes about
	// once a second, so recovery may take a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after Redis restarted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Put(ctx, "k2", []byte("v2"), time.Minute); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	if got, err := s.Take(ctx, "k2"); err != nil || string(got) != "v2" {
		t.Fatalf("Take after restart = %q, %v; want \"v2\"", got, err)
	}
}

func TestRedisClosed(t *testing.T) {
	srv := redistest.Start(t)
	s, err := store.NewRedis(t.Context(), srv.URL(), store.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get after Close error = %v, want ErrUnavailable", err)
	}
}

func TestParseRedisURL(t *testing.T) {
	type want struct {
		addrs      []string
		db         int
		master     string
		cluster    bool
		tls        bool
		user, pass string
	}
	good := []struct {
		url  string
		want want
	}{
		{"redis://localhost:6379", want{addrs: []string{"localhost:6379"}}},
		{"redis://localhost", want{addrs: []string{"localhost:6379"}}},
		{"redis://localhost:6380/", want{addrs: []string{"localhost:6380"}}},
		{"redis://localhost:6379/5", want{addrs: []string{"localhost:6379"}, db: 5}},
		{"redis://u:p@10.0.0.1:7000/2", want{addrs: []string{"10.0.0.1:7000"}, db: 2, user: "u", pass: "p"}},
		{"redis://:p%40ss%3Aw%2Fd@h:1", want{addrs: []string{"h:1"}, pass: "p@ss:w/d"}},
		{"redis://:p@ss@h:1", want{addrs: []string{"h:1"}, pass: "p@ss"}},
		{"redis://[::1]:6379", want{addrs: []string{"[::1]:6379"}}},
		{"redis://[::1]", want{addrs: []string{"[::1]:6379"}}},
		{"rediss://u:p@redis.example.com:6380/1", want{addrs: []string{"redis.example.com:6380"}, db: 1, tls: true, user: "u", pass: "p"}},
		{"redis-sentinel://s1:26379,s2:26380/mymaster", want{addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster"}},
		{"redis-sentinel://:p@s1,s2/mymaster?db=4", want{addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster", db: 4, pass: "p"}},
		{"redis-sentinel://s1:26379/my%20master", want{addrs: []string{"s1:26379"}, master: "my master"}},
		{"redis-cluster://n1:7000,n2:7001,n3:7002", want{addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, cluster: true}},
		{"redis-cluster://:p@n1:7000", want{addrs: []string{"n1:7000"}, cluster: true, pass: "p"}},
		{"redis-cluster://n1:7000/", want{addrs: []string{"n1:7000"}, cluster: true}},
	}
	for _, tc := range good {
		t.Run(tc.url, func(t *testing.T) {
			o, err := store.ParseRedisURL(tc.url)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			got := want{
				addrs: o.Addrs, db: o.DB, master: o.MasterName, cluster: o.IsClusterMode,
				tls: o.TLSConfig != nil, user: o.Username, pass: o.Password,
			}
			if strings.Join(got.addrs, ",") != strings.Join(tc.want.addrs, ",") ||
				got.db != tc.want.db || got.master != tc.want.master || got.cluster != tc.want.cluster ||
				got.tls != tc.want.tls || got.user != tc.want.user || got.pass != tc.want.pass {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if got.tls && o.TLSConfig.ServerName != "redis.example.com" {
				t.Errorf("TLS ServerName = %q, want the host name", o.TLSConfig.ServerName)
			}
		})
	}

	// Every bad URL carries the password "s3cret", which no error may echo.
	bad := []struct{ url, wantMsg string }{
		{"", "missing scheme"},
		{"localhost:6379", "missing scheme"},
		{"s3cret@localhost:6379", "missing scheme"},
		{"http://:s3cret@localhost", `unsupported scheme "http"`},
		{"redis://:s3cret@", "missing host"},
		{"redis://:s3cret@/0", "missing host"},
		{"redis://:s3cret@h1:1,h2:2", "exactly one host"},
		{"redis://:s3cret@h:0", "port must be"},
		{"redis://:s3cret@h:65536", "port must be"},
		{"redis://:s3cret@h:port", "port must be"},
		{"redis://:s3cret@::1", "want host:port"},
		{"redis://:s3cret@:6379", "empty host"},
		{"redis://:s3cret@h:6379/x", "database must be"},
		{"redis://:s3cret@h:6379/-1", "database must be"},
		{"redis://:s3cret@h:6379/1/2", "database must be"},
		{"redis://:s3cret@h:6379?db=1", "no query parameters"},
		{"redis://:s3%ZZcret@h:6379", "percent-encoding in password"},
		{"redis://:s3cret#x@h:6379", "fragments are not allowed"},
		{"redis://:s3/cret@h:6379", "empty host name"}, // unencoded "/" ends the authority early
		{"redis-sentinel://:s3cret@s1:26379", "master name"},
		{"redis-sentinel://:s3cret@s1:26379/", "master name"},
		{"redis-sentinel://:s3cret@s1:26379/m/x", "master name"},
		{"redis-sentinel://:s3cret@s1:26379/m?db=s3cret", "database must be"},
		{"redis-sentinel://:s3cret@s1:26379/m?timeout=1", "unknown query parameter"},
		{"redis-sentinel://:s3cret@s1,,s2/m", "host 2 of 3 is empty"},
		{"redis-cluster://:s3cret@n1:7000/1", "takes no path"},
		{"redis-cluster://:s3cret@n1:7000?x=1", "no query parameters"},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.url, func(t *testing.T) {
			_, err := store.ParseRedisURL(tc.url)
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "redis url: ") || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error %q, want prefix \"redis url: \" and %q", msg, tc.wantMsg)
			}
			if strings.Contains(msg, "s3") || strings.Contains(msg, "cret") {
				t.Errorf("error %q echoes (part of) the password", msg)
			}
		})
	}
}

// FuzzParseRedisURL: whatever the input, the parser does not panic and
// quotes nothing but a scheme in its errors, so a secret placed anywhere
// after the scheme never reaches a log.
func FuzzParseRedisURL(f *testing.F) {
	for _, s := range [][2]string{
		{"redis://:", "@localhost:6379/0"},
		{"redis://user:", "@h:1"},
		{"rediss://", "@h"},
		{"redis-sentinel://:", "@a:1,b:2/m?db=1"},
		{"redis-sentinel://:x@a:1/", "?db=x"},
		{"redis-cluster://:", "@a:1,b:2"},
		{"redis://:pa", "/ss@h:1"},
		{"redis://h:", "/0"},
		{"", "://h"},
	} {
		f.Add(s[0], s[1])
	}
	const secret = "Zq9SECRETzQ9"
	f.Fuzz(func(t *testing.T, before, after string) {
		raw := before + secret + after
		_, err := store.ParseRedisURL(raw)
		if err == nil || !strings.Contains(err.Error(), secret) {
			return
		}
		// Only the scheme is ever quoted; a "secret" inside it is fair game.
		if scheme, _, ok := strings.Cut(raw, "://"); ok && strings.Contains(scheme, secret) {
			return
		}
		t.Fatalf("error echoes input: %v", err)
	})
}

// FuzzRedisURLPassword: any password, percent-encoded as url.UserPassword
// does, survives parsing unchanged.
func FuzzRedisURLPassword(f *testing.F) {
	for _, p := range []string{"", "p", "p@ss:w/rd?#%", "ünï", "a b+c", "\x00"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, pass string) {
		raw := "redis://" + url.UserPassword("u", pass).String() + "@h:6379/0"
		o, err := store.ParseRedisURL(raw)
		if err != nil {
			t.Fatalf("ParseRedisURL: %v", err)
		}
		if o.Password != pass || o.Username != "u" {
			t.Fatalf("got user %q password %q, want %q %q", o.Username, o.Password, "u", pass)
		}
	})
}
