package provision

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// Webhook headers. The signature is HMAC-SHA256 under the shared secret of
//
//	<X-Authgate-Timestamp> "." <body>
//
// hex-encoded as "sha256=<hex>". Signing the timestamp with the body lets the
// receiver refuse an old delivery replayed later (check that the timestamp is
// recent, e.g. within 5 minutes, then compare signatures in constant time).
// The delivery id stays the same across retries, so a receiver can drop a
// duplicate of a delivery it already processed.
const (
	HeaderSignature = "X-Authgate-Signature"
	HeaderTimestamp = "X-Authgate-Timestamp"
	HeaderDelivery  = "X-Authgate-Delivery"
	HeaderEvent     = "X-Authgate-Event"
)

// EventLogin is the type of the webhook's only event.
const EventLogin = "user.login"

// WebhookOptions configure the webhook sink.
type WebhookOptions struct {
	URL    string
	Secret []byte
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration
	// Retries after a failed attempt (default 0). An attempt fails on a
	// network error or timeout, 408, 425, 429 or 5xx; other answers are final.
	Retries int
	// Backoff is the wait before the first retry (default 500ms); it doubles
	// for each further retry, with jitter, capped at 10s. A Retry-After in
	// seconds on 429/503 is honoured up to the cap.
	Backoff time.Duration
	// Client sends the requests (default: a client that does not follow
	// redirects: a delivery that is redirected is a misconfiguration).
	Client *http.Client
	Now    func() time.Time
}

// Webhook POSTs every login as signed JSON.
type Webhook struct {
	o WebhookOptions
}

// WebhookBody is what the webhook receives.
type WebhookBody struct {
	Type       string    `json:"type"`
	Delivery   string    `json:"delivery"`
	OccurredAt time.Time `json:"occurredAt"`
	User       User      `json:"user"`
}

const maxBackoff = 10 * time.Second

// NewWebhook returns the sink.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	if o.URL == "" || len(o.Secret) == 0 {
		return nil, errors.New("provision: webhook needs a URL and a secret")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Webhook{o: o}, nil
}

// Name implements Sink.
func (w *Webhook) Name() string { return "webhook" }

// Sign returns the signature header value for a delivery (exported for
// receivers written in Go, and tests).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errFinal marks an answer that retrying will not change.
var errFinal = errors.New("final")

// Provision implements Sink: one delivery, retried with backoff.
func (w *Webhook) Provision(ctx context.Context, u User) error {
	delivery := deliveryID()
	body, err := json.Marshal(WebhookBody{Type: EventLogin, Delivery: delivery, OccurredAt: u.LastLoginAt, User: u})
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt <= w.o.Retries; attempt++ {
		if attempt > 0 {
			wait := w.backoff(attempt, last)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("gave up after %d attempt(s): %w (last: %v)", attempt, ctx.Err(), last)
			case <-t.C:
			}
		}
		last = w.attempt(ctx, delivery, body)
		if last == nil {
			return nil
		}
		if errors.Is(last, errFinal) {
			return last
		}
	}
	return fmt.Errorf("gave up after %d attempt(s): %w", w.o.Retries+1, last)
}

// retryAfter carries a server's Retry-After to the backoff.
type retryAfter struct {
	err  error
	wait time.Duration
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

func (w *Webhook) attempt(ctx context.Context, delivery string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errFinal, err)
	}
	ts := strconv.FormatInt(w.o.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authgate-provision/1")
	req.Header.Set(HeaderEvent, EventLogin)
	req.Header.Set(HeaderDelivery, delivery)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.o.Secret, ts, body))
	resp, err := w.o.Client.Do(req)
	if err != nil {
		// Transport failures and timeouts are worth another attempt. The
		// error names the URL, which is configuration, not a secret.
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly || s == http.StatusTooManyRequests || s >= 500:
		err := fmt.Errorf("receiver answered %d", s)
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
			return &retryAfter{err: err, wait: time.Duration(secs) * time.Second}
		}
		return err
	default:
		return fmt.Errorf("%w: receiver answered %d", errFinal, s)
	}
}

// backoff is the wait before retry n (1-based): Backoff·2^(n-1), ±20%
// jitter, capped; a server's Retry-After wins when longer.
func (w *Webhook) backoff(n int, last error) time.Duration {
	d := w.o.Backoff << (n - 1)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	if j, err := rand.Int(rand.Reader, big.NewInt(int64(d)/5+1)); err == nil {
		d = d - d/10 + time.Duration(j.Int64())
	}
	var ra *retryAfter
	if errors.As(last, &ra) && ra.wait > d {
		d = min(ra.wait, maxBackoff)
	}
	return d
}

func deliveryID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
