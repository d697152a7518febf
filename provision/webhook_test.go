package provision_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/provision"
)

var secret = []byte("0123456789abcdef0123456789abcdef-webhook")

// receiver is a real HTTP endpoint that checks deliveries the way a user's
// service should: signature over timestamp and body, recent timestamp.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivery
	// answer decides the status of the n-th request (0-based).
	answer func(n int, w http.ResponseWriter) int
	delay  func(n int) time.Duration
}

type delivery struct {
	id, sigOK string
	body      provision.WebhookBody
	at        time.Time
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get(provision.HeaderTimestamp)
	want := provision.Sign(secret, ts, body)
	ok := "bad"
	sec, err := strconv.ParseInt(ts, 10, 64)
	if req.Method == http.MethodPost && req.Header.Get("Content-Type") == "application/json" &&
		err == nil && time.Since(time.Unix(sec, 0)).Abs() < 5*time.Minute &&
		hmac.Equal([]byte(req.Header.Get(provision.HeaderSignature)), []byte(want)) {
		ok = "ok"
	}
	var b provision.WebhookBody
	_ = json.Unmarshal(body, &b)
	r.mu.Lock()
	n := len(r.deliveries)
	r.deliveries = append(r.deliveries, delivery{id: req.Header.Get(provision.HeaderDelivery), sigOK: ok, body: b, at: time.Now()})
	answer, delay := r.answer, r.delay
	r.mu.Unlock()
	if delay != nil {
		select {
		case <-time.After(delay(n)):
		case <-req.Context().Done():
			return
		}
	}
	status := http.StatusNoContent
	if answer != nil {
		status = answer(n, w)
	}
	w.WriteHeader(status)
}

func (r *receiver) got() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...)
}

func newWebhook(t *testing.T, url string, retries int, timeout time.Duration) *provision.Webhook {
	t.Helper()
	w, err := provision.NewWebhook(provision.WebhookOptions{URL: url, Secret: secret, Retries: retries, Timeout: timeout, Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var alice = provision.User{ID: "user-alice", Email: "alice@example.com", Name: "Alice", OrganizationID: "org-1", Role: "admin", Groups: []string{"a"}, LastLoginAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}

func TestWebhookSignedDelivery(t *testing.T) {
	r := newReceiver(t)
	if err := newWebhook(t, r.URL, 0, time.Second).Provision(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
	d := r.got()
	if len(d) != 1 || d[0].sigOK != "ok" || d[0].id == "" {
		t.Fatalf("deliveries: %+v", d)
	}
	b := d[0].body
	if b.Type != provision.EventLogin || b.Delivery != d[0].id || b.User.ID != alice.ID || b.User.Email != alice.Email ||
		b.User.OrganizationID != "org-1" || !b.User.LastLoginAt.Equal(alice.LastLoginAt) || !b.OccurredAt.Equal(alice.LastLoginAt) {
		t.Fatalf("body: %+v", b)
	}
	// Another secret does not verify: the receiver can tell a forgery.
	if provision.Sign([]byte("other"), "1", []byte("x")) == provision.Sign(secret, "1", []byte("x")) {
		t.Fatal("signature independent of the secret")
	}
}

func TestWebhookRetriesWithBackoff(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(n int, w http.ResponseWriter) int {
		switch n {
		case 0:
			return http.StatusServiceUnavailable
		case 1:
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	}
	if err := newWebhook(t, r.URL, 3, time.Second).Provision(context.Background(), alice); err != nil {
		t.Fatalf("delivery after two failures: %v", err)
	}
	d := r.got()
	if len(d) != 3 {
		t.Fatalf("%d attempts, want 3", len(d))
	}
	for i, x := range d {
		// Same delivery id (the receiver can de-duplicate), freshly signed.
		if x.id != d[0].id || x.sigOK != "ok" {
			t.Errorf("attempt %d: id %q sig %s", i, x.id, x.sigOK)
		}
	}
	// Backoff: 50ms then 100ms (±10%), so the gaps grow.
	g1, g2 := d[1].at.Sub(d[0].at), d[2].at.Sub(d[1].at)
	if g1 < 40*time.Millisecond || g2 < 80*time.Millisecond || g2 < g1 {
		t.Errorf("gaps %v, %v: not an exponential backoff from 50ms", g1, g2)
	}
}

func TestWebhookRetryAfter(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(n int, w http.ResponseWriter) int {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	}
	if err := newWebhook(t, r.URL, 1, time.Second).Provision(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
	d := r.got()
	if len(d) != 2 || d[1].at.Sub(d[0].at) < 900*time.Millisecond {
		t.Fatalf("Retry-After not honoured: %d attempts", len(d))
	}
}

func TestWebhookGivesUp(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(int, http.ResponseWriter) int { return http.StatusInternalServerError }
	err := newWebhook(t, r.URL, 2, time.Second).Provision(context.Background(), alice)
	if err == nil || len(r.got()) != 3 {
		t.Fatalf("always 500: err %v after %d attempts, want an error after 3", err, len(r.got()))
	}

	// A 4xx is final: retrying the same request will not help.
	r4 := newReceiver(t)
	r4.answer = func(int, http.ResponseWriter) int { return http.StatusUnauthorized }
	if err := newWebhook(t, r4.URL, 3, time.Second).Provision(context.Background(), alice); err == nil || len(r4.got()) != 1 {
		t.Fatalf("401: err %v after %d attempts, want an error after 1", err, len(r4.got()))
	}

	// A redirect is not followed (and not success).
	rr := newReceiver(t)
	rr.answer = func(_ int, w http.ResponseWriter) int {
		w.Header().Set("Location", "http://127.0.0.1:1/")
		return http.StatusFound
	}
	if err := newWebhook(t, rr.URL, 0, time.Second).Provision(context.Background(), alice); err == nil {
		t.Fatal("redirect counted as delivered")
	}
}

func TestWebhookTimeout(t *testing.T) {
	r := newReceiver(t)
	// The first attempt hangs past the timeout, the second is quick.
	r.delay = func(n int) time.Duration {
		if n == 0 {
			return 5 * time.Second
		}
		return 0
	}
	began := time.Now()
	if err := newWebhook(t, r.URL, 1, 200*time.Millisecond).Provision(context.Background(), alice); err != nil {
		t.Fatalf("retry after a timeout: %v", err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("timed-out attempt was waited for: %v", el)
	}
	if len(r.got()) != 2 {
		t.Fatalf("%d attempts", len(r.got()))
	}

	// Without retries, a hanging receiver fails after the timeout.
	r.mu.Lock()
	r.deliveries, r.delay = nil, func(int) time.Duration { return 5 * time.Second }
	r.mu.Unlock()
	began = time.Now()
	if err := newWebhook(t, r.URL, 0, 200*time.Millisecond).Provision(context.Background(), alice); err == nil {
		t.Fatal("hanging receiver counted as delivered")
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("timeout not enforced: %v", el)
	}

	// The caller's context ends the retries too.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began = time.Now()
	if err := newWebhook(t, r.URL, 10, 100*time.Millisecond).Provision(ctx, alice); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context end: %v", err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("retries outlived the context: %v", el)
	}
}

// TestProvisionerBackgroundAndRequired: by default a failing sink does not
// block (or delay) the login and is counted; when required, it refuses it.
func TestProvisionerBackgroundAndRequired(t *testing.T) {
	slow := newReceiver(t)
	slow.delay = func(int) time.Duration { return 300 * time.Millisecond }
	slow.answer = func(int, http.ResponseWriter) int { return http.StatusInternalServerError }
	ok := newReceiver(t)
	id := identity.Identity{Subject: "user-alice", Email: "alice@example.com", Role: "admin"}

	p := provision.New(provision.Options{Sinks: []provision.Sink{newWebhook(t, slow.URL, 0, time.Second), namedWebhook{newWebhook(t, ok.URL, 0, time.Second)}}})
	began := time.Now()
	if err := p.Provision(context.Background(), id); err != nil {
		t.Fatalf("background provisioning returned %v", err)
	}
	if el := time.Since(began); el > 100*time.Millisecond {
		t.Fatalf("background provisioning delayed the login by %v", el)
	}
	p.Wait()
	if len(slow.got()) != 1 || len(ok.got()) != 1 {
		t.Fatalf("deliveries: %d, %d", len(slow.got()), len(ok.got()))
	}
	if got := counter(t, p, "webhook", "failure"); got != 1 {
		t.Errorf("failures counted: %v", got)
	}
	if got := counter(t, p, "webhook2", "success"); got != 1 {
		t.Errorf("successes counted: %v", got)
	}

	req := provision.New(provision.Options{Required: true, Sinks: []provision.Sink{newWebhook(t, slow.URL, 0, time.Second)}})
	if err := req.Provision(context.Background(), id); !errors.Is(err, provision.ErrFailed) {
		t.Fatalf("required provisioning with a failing sink: %v", err)
	}
	reqOK := provision.New(provision.Options{Required: true, Sinks: []provision.Sink{newWebhook(t, ok.URL, 0, time.Second)}})
	if err := reqOK.Provision(context.Background(), id); err != nil {
		t.Fatalf("required provisioning with a working sink: %v", err)
	}

	// Bounded background work: with every slot taken, a login is dropped
	// and counted rather than queued.
	hang := newReceiver(t)
	hang.delay = func(int) time.Duration { return time.Second }
	b := provision.New(provision.Options{MaxInFlight: 1, Sinks: []provision.Sink{newWebhook(t, hang.URL, 0, 2*time.Second)}})
	_ = b.Provision(context.Background(), id)
	_ = b.Provision(context.Background(), id)
	b.Wait()
	if got := counter(t, b, "webhook", "failure"); got != 1 || len(hang.got()) != 1 {
		t.Errorf("overflow: %v failures, %d deliveries", got, len(hang.got()))
	}
}

// namedWebhook renames a sink, to tell two webhooks apart in metrics.
type namedWebhook struct{ *provision.Webhook }

func (namedWebhook) Name() string { return "webhook2" }
