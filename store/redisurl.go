package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The URL forms are documented in the package comment. Parsing is done by
// hand rather than with net/url because a comma-separated host list is not a
// valid URL authority (Go rejects extra colons in hosts), and because
// url.Error echoes the whole input, password included.
//
// No error below quotes any part of the input: a stray '/', '?' or '#' in an
// unencoded password shifts every later field, so even a "host" or "database"
// may be a password fragment.

const (
	defaultRedisPort    = "6379"
	defaultSentinelPort = "26379"
)

// parseRedisURL turns rawURL into go-redis universal options (addresses,
// credentials, database, TLS, mode). Timeouts are set by NewRedis.
func parseRedisURL(rawURL string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("redis url: missing scheme: want redis://, rediss://, redis-sentinel:// or redis-cluster://")
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.Contains(tail, "#") {
		return nil, errors.New("redis url: fragments are not allowed (percent-encode '#' in passwords as %23)")
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		// Not wrapped: url.ParseQuery errors quote the offending input.
		return nil, errors.New("redis url: malformed query string")
	}

	opts := &redis.UniversalOptions{}
	userinfo, hostlist := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostlist = authority[:i], authority[i+1:]
	}
	if err := parseUserinfo(userinfo, opts); err != nil {
		return nil, err
	}

	switch scheme {
	case "redis", "rediss":
		if opts.Addrs, err = parseHosts(hostlist, defaultRedisPort); err != nil {
			return nil, err
		}
		if len(opts.Addrs) != 1 {
			return nil, fmt.Errorf("redis url: %s:// takes exactly one host; use redis-cluster:// or redis-sentinel:// for several", scheme)
		}
		if opts.DB, err = parseDB(strings.TrimPrefix(path, "/")); err != nil {
			return nil, err
		}
		if err := onlyQueryKeys(query); err != nil {
			return nil, err
		}
		if scheme == "rediss" {
			host, _, _ := net.SplitHostPort(opts.Addrs[0])
			// ServerName is set explicitly: the dialer wraps an existing
			// connection and would otherwise skip hostname verification
			// or fail outright.
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		}
	case "redis-sentinel":
		if opts.Addrs, err = parseHosts(hostlist, defaultSentinelPort); err != nil {
			return nil, err
		}
		master := strings.TrimPrefix(path, "/")
		if master == "" || strings.Contains(master, "/") {
			return nil, errors.New("redis url: redis-sentinel:// needs the master name as the only path segment, e.g. redis-sentinel://h1:26379,h2:26379/mymaster")
		}
		if opts.MasterName, err = url.PathUnescape(master); err != nil {
			return nil, errors.New("redis url: invalid percent-encoding in master name")
		}
		if opts.DB, err = parseDB(query.Get("db")); err != nil {
			return nil, err
		}
		if err := onlyQueryKeys(query, "db"); err != nil {
			return nil, err
		}
	case "redis-cluster":
		if opts.Addrs, err = parseHosts(hostlist, defaultRedisPort); err != nil {
			return nil, err
		}
		if path != "" && path != "/" {
			return nil, errors.New("redis url: redis-cluster:// takes no path: Redis Cluster has only database 0")
		}
		if err := onlyQueryKeys(query); err != nil {
			return nil, err
		}
		// Forces cluster mode even for a single seed node, which the
		// universal client would otherwise treat as a standalone server.
		opts.IsClusterMode = true
	default:
		if !isSchemeLike(scheme) {
			return nil, errors.New("redis url: unsupported scheme: want redis://, rediss://, redis-sentinel:// or redis-cluster://")
		}
		return nil, fmt.Errorf("redis url: unsupported scheme %q: want redis://, rediss://, redis-sentinel:// or redis-cluster://", scheme)
	}
	return opts, nil
}

// parseUserinfo reads "user:pass", ":pass" or "user" (percent-encoded).
func parseUserinfo(userinfo string, opts *redis.UniversalOptions) error {
	if userinfo == "" {
		return nil
	}
	user, pass, _ := strings.Cut(userinfo, ":")
	var err error
	if opts.Username, err = url.PathUnescape(user); err != nil {
		return errors.New("redis url: invalid percent-encoding in user name")
	}
	if opts.Password, err = url.PathUnescape(pass); err != nil {
		// Not wrapped: url.EscapeError quotes the bad escape, i.e. part of
		// the password.
		return errors.New("redis url: invalid percent-encoding in password")
	}
	return nil
}

// parseHosts splits "h1:p1,h2:p2" into host:port addresses, adding
// defaultPort where a port is missing.
func parseHosts(list, defaultPort string) ([]string, error) {
	if list == "" {
		return nil, errors.New("redis url: missing host")
	}
	parts := strings.Split(list, ",")
	addrs := make([]string, 0, len(parts))
	for i, hp := range parts {
		n := i + 1
		if hp == "" {
			return nil, fmt.Errorf("redis url: host %d of %d is empty", n, len(parts))
		}
		bracketed := strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]")
		if bracketed || !strings.Contains(hp, ":") {
			hp = hp + ":" + defaultPort
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("redis url: host %d of %d: want host:port (IPv6 in brackets)", n, len(parts))
		}
		if host == "" {
			return nil, fmt.Errorf("redis url: host %d of %d: empty host name", n, len(parts))
		}
		if strings.ContainsAny(host, "/@?#% \t\r\n") {
			return nil, fmt.Errorf("redis url: host %d of %d: invalid character in host name", n, len(parts))
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, fmt.Errorf("redis url: host %d of %d: port must be a number from 1 to 65535", n, len(parts))
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	return addrs, nil
}

// parseDB reads a database number; "" means 0.
func parseDB(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	db, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) {
			// The bare cause (syntax/range), not NumError, which quotes the input.
			err = numErr.Err
		}
		return 0, fmt.Errorf("redis url: database must be a non-negative integer: %w", err)
	}
	return int(db), nil
}

// onlyQueryKeys rejects query parameters other than allowed, so a misspelt
// option fails at startup instead of being ignored.
func onlyQueryKeys(q url.Values, allowed ...string) error {
	for k := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			if len(allowed) == 0 {
				return errors.New("redis url: this scheme takes no query parameters")
			}
			return fmt.Errorf("redis url: unknown query parameter (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
	return nil
}

// isSchemeLike reports whether s looks like a URL scheme (RFC 3986 §3.1), so
// it is safe to quote in an error: anything else may be a mistyped secret.
func isSchemeLike(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
