// Package provision records users as they log in (the seed's user upsert with
// lastLoginAt), through pluggable sinks: a PostgreSQL upsert into a
// configurable table and columns, and an HMAC-signed webhook.
//
// A failing sink never blocks a login unless the deployment says it must
// (provision_required): by default the sinks run in the background, after the
// login has gone on, and their failures are counted
// (authgate_provision_total{sink,outcome="failure"}) and logged. When required,
// they run before the login completes and any failure refuses it.
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/promtext"
)

// User is what a sink records about one login.
type User struct {
	ID             string    `json:"id"`
	Email          string    `json:"email,omitempty"`
	Name           string    `json:"name,omitempty"`
	OrganizationID string    `json:"organizationId,omitempty"`
	Role           string    `json:"role,omitempty"`
	Groups         []string  `json:"groups"`
	LastLoginAt    time.Time `json:"lastLoginAt"`
}

// Sink records a login somewhere.
type Sink interface {
	// Name labels the sink in metrics and logs ("postgres", "webhook").
	Name() string
	Provision(ctx context.Context, u User) error
}

// ErrFailed wraps the error a required provisioning returns.
var ErrFailed = errors.New("provisioning failed")

// Options configure a Provisioner.
type Options struct {
	Sinks []Sink
	// Required runs the sinks before the login completes and refuses the
	// login when one fails.
	Required bool
	// Timeout bounds all sinks of one login (default 30s): a login waits at
	// most this long when Required; background work is abandoned after it.
	Timeout time.Duration
	// MaxInFlight bounds background provisionings (default 64). When that
	// many are still running, a login's provisioning is dropped and counted
	// as a failure rather than piling up goroutines behind a dead sink.
	MaxInFlight int
	Logger      *slog.Logger
	Now         func() time.Time
}

// Provisioner runs the sinks for every login; it implements
// oidcflow.Provisioner.
type Provisioner struct {
	sinks    []Sink
	required bool
	timeout  time.Duration
	slots    chan struct{}
	log      *slog.Logger
	now      func() time.Time
	wg       sync.WaitGroup
	total    *promtext.CounterVec
}

// New returns a Provisioner for o.Sinks.
func New(o Options) *Provisioner {
	p := &Provisioner{sinks: o.Sinks, required: o.Required, timeout: o.Timeout, log: o.Logger, now: o.Now}
	if p.timeout <= 0 {
		p.timeout = 30 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	p.slots = make(chan struct{}, o.MaxInFlight)
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.total = promtext.NewCounterVec(promtext.Opts{
		Name: "authgate_provision_total",
		Help: "User provisioning on login, by sink and outcome (success, failure).",
	}, "sink", "outcome")
	for _, s := range p.sinks {
		p.total.With(s.Name(), "success")
		p.total.With(s.Name(), "failure")
	}
	return p
}

// Collector exposes the provisioning counters.
func (p *Provisioner) Collector() promtext.Collector { return p.total }

// Provision records the login of id. It returns an error (wrapping
// ErrFailed) only when provisioning is required and a sink failed; otherwise
// the sinks run in the background and it returns nil at once.
func (p *Provisioner) Provision(ctx context.Context, id identity.Identity) error {
	if len(p.sinks) == 0 {
		return nil
	}
	u := User{
		ID: id.Subject, Email: id.Email, Name: id.Name, OrganizationID: id.OrganizationID,
		Role: id.Role, Groups: id.Groups, LastLoginAt: p.now().UTC().Truncate(time.Microsecond),
	}
	if u.Groups == nil {
		u.Groups = []string{}
	}
	if p.required {
		ctx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		if err := p.run(ctx, u); err != nil {
			return fmt.Errorf("%w: %w", ErrFailed, err)
		}
		return nil
	}
	select {
	case p.slots <- struct{}{}:
	default:
		for _, s := range p.sinks {
			p.total.With(s.Name(), "failure").Inc()
		}
		p.log.WarnContext(ctx, "provisioning dropped: too many still running", "sub", u.ID)
		return nil
	}
	// Detached from the request, which ends when the login redirects on.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	p.wg.Add(1)
	go func() {
		defer func() { <-p.slots; cancel(); p.wg.Done() }()
		_ = p.run(bg, u)
	}()
	return nil
}

// Wait blocks until background provisionings have finished (graceful
// shutdown, tests).
func (p *Provisioner) Wait() { p.wg.Wait() }

// run calls every sink concurrently and returns their failures joined.
func (p *Provisioner) run(ctx context.Context, u User) error {
	errs := make([]error, len(p.sinks))
	var wg sync.WaitGroup
	for i, s := range p.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			err := s.Provision(ctx, u)
			if err != nil {
				p.total.With(s.Name(), "failure").Inc()
				// Never the user's email or name: logs are not the user table.
				p.log.WarnContext(ctx, "provisioning failed", "sink", s.Name(), "sub", u.ID,
					"required", p.required, "elapsed", time.Since(began).Round(time.Millisecond).String(), "error", err.Error())
				errs[i] = fmt.Errorf("%s: %w", s.Name(), err)
				return
			}
			p.total.With(s.Name(), "success").Inc()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
