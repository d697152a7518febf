package attack

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/evilop"
	"github.com/authgate/authgate/internal/redistest"
)

// load runs workers that each send requests in a loop until stop, tallying
// the statuses they got; each worker has its own client.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  map[string]map[int]int // worker kind → status → count
}

func newLoad() *load { return &load{stop: make(chan struct{}), got: map[string]map[int]int{}} }

func (l *load) run(kind string, n int, send func() int) {
	l.mu.Lock()
	l.got[kind] = map[int]int{}
	l.mu.Unlock()
	for range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				st := send()
				l.mu.Lock()
				l.got[kind][st]++
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
}

func (l *load) finish() map[string]map[int]int {
	close(l.stop)
	l.wg.Wait()
	return l.got
}

// status sends a GET and returns its status (0 when the request failed).
func status(c *http.Client, u string, header ...string) int {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRedisOutageUnderLoad kills the real redis-server under a small,
// bounded load and restarts it, with authgate (configured by REDIS_URL, as
// the command is) running throughout. Token-bearing requests — bearer and
// session cookie — keep getting 200; requests without a token keep getting
// 401; login, callback and exchange answer 503 store_unavailable while Redis
// is down and work again once it is back, without restarting authgate. A
// session logged out before the crash stays logged out after it.
func TestRedisOutageUnderLoad(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	op := evilop.Start(t, evilop.Options{Key: keys().ec})
	g := startGate(t, op, gateOptions{env: map[string]string{"REDIS_URL": srv.URL()}})

	session := g.newClient()
	session.fullLogin()
	// A second session, logged out before the crash; its cookies are kept.
	gone := g.newClient()
	gone.fullLogin()
	base, _ := url.Parse(g.URL + "/")
	stolen := g.newClient()
	stolen.jar.SetCookies(base, gone.jar.Cookies(base))
	if r := stolen.get("/app", api...); r.StatusCode != http.StatusOK {
		t.Fatalf("copied cookies before the logout: %d", r.StatusCode)
	}
	if r := gone.do(http.MethodPost, "/auth/logout", nil, "Origin", g.URL); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}
	pending := g.newClient()
	callback := pending.startLogin("/app") // state in Redis
	coded := g.newClient()
	code := exchangeCode(t, coded.login()) // exchange code in Redis

	l := newLoad()
	l.run("bearer", 3, func() int {
		return status(http.DefaultClient, g.URL+"/app", "Authorization", "Bearer "+op.Mint(nil), "Accept", "application/json")
	})
	l.run("session cookie", 1, func() int { return status(session.http, g.URL+"/app", "Accept", "application/json") })
	l.run("no token", 1, func() int { return status(http.DefaultClient, g.URL+"/app", "Accept", "application/json") })
	l.run("stolen logged-out cookie", 1, func() int { return status(stolen.http, g.URL+"/app", "Accept", "application/json") })
	time.Sleep(300 * time.Millisecond)

	srv.Stop()
	b := g.newClient()
	r := b.navigate("/auth/login?rd=/")
	wantError(t, "login while Redis is down", r, http.StatusServiceUnavailable, "store_unavailable")
	if r.Elapsed > 5*time.Second {
		t.Errorf("login took %s to fail", r.Elapsed)
	}
	wantRefused(t, "callback while Redis is down", pending.navigate(callback), http.StatusServiceUnavailable, "store_unavailable")
	wantError(t, "exchange while Redis is down", coded.exchange(code), http.StatusServiceUnavailable, "store_unavailable")
	time.Sleep(300 * time.Millisecond)

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.newClient().navigate("/auth/login?rd=/")
		if r.StatusCode == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login still %d after Redis came back: %s", r.StatusCode, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fresh := g.newClient()
	fresh.fullLogin()
	if r := fresh.get("/app", api...); r.StatusCode != http.StatusOK {
		t.Fatalf("request after recovery: %d", r.StatusCode)
	}
	// The code issued before the crash died with the Redis that held it
	// (no persistence here): refused, never honoured twice or half.
	wantError(t, "exchange code from before the crash", coded.exchange(code), http.StatusUnauthorized, "invalid_exchange_code")
	time.Sleep(200 * time.Millisecond)

	got := l.finish()
	t.Logf("statuses under load: %v", got)
	for kind, want := range map[string]int{"bearer": 200, "session cookie": 200, "no token": 401, "stolen logged-out cookie": 401} {
		total := 0
		for st, n := range got[kind] {
			total += n
			if st != want {
				t.Errorf("%s: %d requests got %d, want only %d", kind, n, st, want)
			}
		}
		if total < 10 {
			t.Errorf("%s: only %d requests made", kind, total)
		}
	}
}

// TestSentinelFailoverUnderLoad: authgate on a Redis Sentinel setup (real
// processes) whose master is killed under load. Token-bearing requests keep
// getting 200 throughout; login comes back by itself once Sentinel promoted
// the replica; every exchange code handed out before the crash (and
// replicated, which asynchronous replication does within milliseconds) is
// redeemed exactly once after it: no acknowledged exchange is lost, none is
// honoured twice.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	op := evilop.Start(t, evilop.Options{Key: keys().ec})
	// The failover loop below asks for a login five times a second, for up
	// to 30 s, from one address: more than the default per-client limit of
	// the store-writing endpoints allows (burst 60, then 2/s), which then
	// answered the last callback 429. This test is about the store, so the
	// limiter is off (attack/limits_test.go tests it).
	g := startGate(t, op, gateOptions{env: map[string]string{"REDIS_URL": s.URL(), "AUTHGATE_RATE_LIMIT_PER_MINUTE": "0"}})
	type pendingExchange struct {
		c    *client
		code string
	}
	var codes []pendingExchange
	for range 5 {
		c := g.newClient()
		codes = append(codes, pendingExchange{c, exchangeCode(t, c.login())})
	}
	time.Sleep(300 * time.Millisecond) // replication
	l := newLoad()
	l.run("bearer", 2, func() int {
		return status(http.DefaultClient, g.URL+"/app", "Authorization", "Bearer "+op.Mint(nil), "Accept", "application/json")
	})
	l.run("no token", 1, func() int { return status(http.DefaultClient, g.URL+"/app", "Accept", "application/json") })

	old := s.MasterAddr()
	s.Master.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := g.newClient().navigate("/auth/login?rd=/")
		if r.StatusCode == http.StatusFound && s.MasterAddr() != old {
			break
		}
		if r.StatusCode != http.StatusFound && r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("login during failover: %d %s", r.StatusCode, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("login not back within 30 s of the master's crash: %d", r.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, p := range codes {
		if r := p.c.exchange(p.code); r.StatusCode != http.StatusOK {
			t.Errorf("exchange %d acknowledged before the failover: %d %s", i, r.StatusCode, r.Body)
		}
		wantError(t, "second redemption after the failover", p.c.exchange(p.code), http.StatusUnauthorized, "invalid_exchange_code")
	}
	g.newClient().fullLogin()

	got := l.finish()
	t.Logf("statuses under load: %v", got)
	for kind, want := range map[string]int{"bearer": 200, "no token": 401} {
		for st, n := range got[kind] {
			if st != want {
				t.Errorf("%s: %d requests got %d, want only %d", kind, n, st, want)
			}
		}
	}
}

// TestProviderOutage: the provider is unreachable for a while (connections
// refused). Cached keys keep verifying tokens authgate has never seen; a
// callback and a refresh answer a clear 502 at once and leave the session
// alone; a token with an unknown kid is refused; once the provider is back,
// logins and refreshes work again without restarting authgate.
func TestProviderOutage(t *testing.T) {
	t.Parallel()
	k := keys()
	op := evilop.Start(t, evilop.Options{Key: k.ec})
	g := startGate(t, op, gateOptions{})
	b := g.newClient()
	b.fullLogin()
	pending := g.newClient()
	callback := pending.startLogin("/app")

	op.Down()
	for i := range 20 {
		tok := op.Mint(func(t *evilop.Token) { t.Claims["jti"] = fmt.Sprint("outage-", i) })
		if r := g.newClient().get("/app", "Authorization", "Bearer "+tok); r.StatusCode != http.StatusOK {
			t.Fatalf("new token on a cached key during the outage: %d %s", r.StatusCode, r.Body)
		}
	}
	if r := b.get("/app", api...); r.StatusCode != http.StatusOK {
		t.Fatalf("session during the outage: %d", r.StatusCode)
	}
	unknown := op.Mint(func(t *evilop.Token) { t.Key, t.Header["kid"] = k.ec2, k.ec2.Kid })
	wantError(t, "unknown kid during the outage", g.newClient().get("/app", "Authorization", "Bearer "+unknown, "Accept", "application/json"),
		http.StatusUnauthorized, "token_unknown_key")
	cb := pending.navigate(callback)
	wantRefused(t, "callback during the outage", cb, http.StatusBadGateway, "token_exchange_failed")
	if cb.Elapsed > 3*time.Second {
		t.Errorf("callback took %s to fail", cb.Elapsed)
	}
	wantError(t, "refresh during the outage", b.do(http.MethodPost, "/auth/refresh", nil, "Origin", g.URL), http.StatusBadGateway, "refresh_failed")
	if r := b.get("/app", api...); r.StatusCode != http.StatusOK {
		t.Fatalf("session after a failed refresh: %d", r.StatusCode)
	}

	op.Up()
	fresh := g.newClient()
	fresh.fullLogin()
	if r := fresh.do(http.MethodPost, "/auth/refresh", nil, "Origin", g.URL); r.StatusCode != http.StatusOK {
		t.Fatalf("refresh after the outage: %d %s", r.StatusCode, r.Body)
	}
	if r := fresh.get("/app", api...); r.StatusCode != http.StatusOK {
		t.Fatalf("request after the outage: %d", r.StatusCode)
	}
}
