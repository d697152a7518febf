package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/internal/promtext"
	"github.com/authgate/authgate/proxy"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/tokens"
)

func scrape(t *testing.T, reg *promtext.Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[l[:i]] = v
	}
	return out
}

// Every reason the engine can give has a pre-resolved series.
func TestReasonSetClosed(t *testing.T) {
	errs := []error{nil, tokens.ErrMalformed, tokens.ErrTooLarge, tokens.ErrAlgorithm, tokens.ErrHeader,
		tokens.ErrUnknownKey, tokens.ErrSignature, tokens.ErrIssuer, tokens.ErrAudience, tokens.ErrExpired,
		tokens.ErrNotYetValid, tokens.ErrClaims, tokens.ErrRevoked, tokens.ErrKeySet, errors.New("anything"),
		proxy.ErrNoToken, proxy.ErrBadCookie, proxy.ErrBadHeader}
	for _, err := range errs {
		r := proxy.Reason(err)
		if err == nil {
			continue // "ok" is not a deny reason
		}
		if !slices.Contains(DecisionReasons, r) {
			t.Errorf("proxy.Reason(%v) = %q, not in DecisionReasons", err, r)
		}
	}
}

func TestCounters(t *testing.T) {
	reg := promtext.NewRegistry()
	m := New(reg)
	m.Decision(true, "authenticated")
	m.Decision(false, "token_expired")
	m.Decision(false, "token_expired")
	m.Decision(false, "attacker-chosen-"+strings.Repeat("x", 100))
	m.Verification(true, time.Microsecond, nil)
	m.Verification(false, time.Millisecond, tokens.ErrSignature)
	m.JWKSFetch(nil)
	m.JWKSFetch(errors.New("down"))
	m.TokenCall("authorization_code", nil)
	m.TokenCall("refresh_token", &oauth2.RetrieveError{ErrorCode: "invalid_grant"})
	m.TokenCall("refresh_token", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 502}})
	m.TokenCall("refresh_token", fmt.Errorf("dial: %w", context.DeadlineExceeded))
	m.TokenCall("client_credentials", nil) // not authgate's: ignored
	m.Refresh("success")
	m.Refresh("invalid_refresh_token")
	m.Refresh("bogus")

	st := m.Store(failing{})
	_, _ = st.Get(context.Background(), "k")                // not found: not an error
	_ = st.Put(context.Background(), "k", nil, time.Second) // unavailable
	_, _ = st.Take(context.Background(), "k")               // canceled by the caller: not the store's fault
	_ = st.Ping(context.Background())

	var inside float64
	h := m.InFlight(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		inside = scrape(t, reg)["authgate_http_requests_in_flight"]
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	got := scrape(t, reg)
	for name, want := range map[string]float64{
		`authgate_decisions_total{outcome="allow",reason="authenticated"}`:                       1,
		`authgate_decisions_total{outcome="deny",reason="token_expired"}`:                        2,
		`authgate_decisions_total{outcome="deny",reason="other"}`:                                1,
		`authgate_token_cache_hits_total`:                                                        1,
		`authgate_token_cache_misses_total`:                                                      1,
		`authgate_token_verification_seconds_count{cache="hit"}`:                                 1,
		`authgate_jwks_fetches_total`:                                                            2,
		`authgate_jwks_fetch_failures_total`:                                                     1,
		`authgate_token_endpoint_requests_total{grant="authorization_code"}`:                     1,
		`authgate_token_endpoint_requests_total{grant="refresh_token"}`:                          3,
		`authgate_token_endpoint_errors_total{grant="refresh_token",kind="invalid_grant"}`:       1,
		`authgate_token_endpoint_errors_total{grant="refresh_token",kind="status"}`:              1,
		`authgate_token_endpoint_errors_total{grant="refresh_token",kind="transport"}`:           1,
		`authgate_token_endpoint_errors_total{grant="authorization_code",kind="invalid_client"}`: 0,
		`authgate_refreshes_total{outcome="success"}`:                                            1,
		`authgate_refreshes_total{outcome="invalid_refresh_token"}`:                              1,
		`authgate_store_errors_total{op="get"}`:                                                  0,
		`authgate_store_errors_total{op="put"}`:                                                  1,
		`authgate_store_errors_total{op="take"}`:                                                 0,
		`authgate_store_errors_total{op="ping"}`:                                                 1,
		`authgate_http_requests_in_flight`:                                                       0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if inside != 1 {
		t.Errorf("in flight while serving: %v", inside)
	}
	for name := range got {
		if strings.Contains(name, "attacker") || strings.Contains(name, "bogus") || strings.Contains(name, "client_credentials") {
			t.Errorf("a label value outside the closed sets: %s", name)
		}
		if !strings.HasPrefix(name, "authgate_") {
			t.Errorf("%s lacks the authgate_ prefix", name)
		}
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Decision(true, "authenticated")
	m.Verification(true, 0, nil)
	m.JWKSFetch(nil)
	m.TokenCall("refresh_token", nil)
	m.Refresh("success")
	h := http.NotFoundHandler()
	if m.InFlight(h) == nil || m.Store(failing{}) == nil {
		t.Error("nil Metrics must pass handlers and stores through")
	}
}

// Two registries, two independent sets: no global state.
func TestNoGlobals(t *testing.T) {
	a, b := promtext.NewRegistry(), promtext.NewRegistry()
	New(a).Decision(true, "authenticated")
	New(b)
	if scrape(t, b)[`authgate_decisions_total{outcome="allow",reason="authenticated"}`] != 0 {
		t.Error("counters shared between registries")
	}
}

// failing is a store whose Get finds nothing, Take sees a canceled caller
// and everything else is unavailable.
type failing struct{ store.Store }

func (failing) Get(context.Context, string) ([]byte, error) { return nil, store.ErrNotFound }
func (failing) Put(context.Context, string, []byte, time.Duration) error {
	return fmt.Errorf("redis: %w", store.ErrUnavailable)
}
func (failing) Take(context.Context, string) ([]byte, error) {
	return nil, fmt.Errorf("store: take: %w", context.Canceled)
}
func (failing) Ping(context.Context) error { return fmt.Errorf("redis: %w", store.ErrUnavailable) }
