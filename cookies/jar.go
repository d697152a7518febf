package cookies

import (
	"fmt"
	"time"
)

// Jar is authgate's set of cookies, built once from configuration so every
// handler sets and clears them with identical attributes.
type Jar struct {
	Codec *Codec
	// Auth holds the access token (Path=/). Refresh holds the refresh token and
	// is sent only to the refresh endpoint; ID holds the ID token for the
	// logout hint and is sent only to the logout endpoint; Login binds a login
	// in progress to this browser.
	Auth, Refresh, ID, Login Spec
	base                     map[string]string // final name → base name (sealing AAD)
}

// JarConfig says how to build the jar.
type JarConfig struct {
	AuthName, RefreshName string // base names, without prefixes
	AuthPrefix            string // path of the auth endpoints, e.g. "/auth"
	Domain                string
	Secure                bool
	MaxAge                time.Duration
}

// NewJar builds and validates the jar.
func NewJar(codec *Codec, c JarConfig) (*Jar, error) {
	j := &Jar{Codec: codec, base: map[string]string{}}
	mk := func(base, path, domain string, maxAge time.Duration) Spec {
		s := Spec{
			Name:   Prefixed(base, c.Secure, path, domain),
			Path:   path,
			Domain: domain,
			Secure: c.Secure,
			MaxAge: maxAge,
		}
		j.base[s.Name] = base
		return s
	}
	j.Auth = mk(c.AuthName, "/", c.Domain, c.MaxAge)
	j.Refresh = mk(c.RefreshName, c.AuthPrefix+"/refresh", c.Domain, c.MaxAge)
	j.ID = mk(c.AuthName+"_id", c.AuthPrefix+"/logout", c.Domain, c.MaxAge)
	// The login binding is host-only: it is read only where the login started.
	j.Login = mk(c.AuthName+"_login", c.AuthPrefix, "", 10*time.Minute)
	for _, s := range []Spec{j.Auth, j.Refresh, j.ID, j.Login} {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("cookie jar: %w", err)
		}
	}
	if len(j.base) != 4 {
		return nil, fmt.Errorf("cookie jar: cookie names collide")
	}
	return j, nil
}

// Seal seals value for cookie s.
func (j *Jar) Seal(s Spec, value string, expires time.Time) (string, error) {
	return j.Codec.Seal(j.base[s.Name], []byte(value), expires)
}

// Open opens the value of cookie s. A binding sealed with the value
// (SealBound) is checked and left out; OpenBound returns it.
func (j *Jar) Open(s Spec, value string) ([]byte, error) {
	v, _, err := j.OpenBound(s, value)
	return v, err
}

// Names lists the final names of every authgate cookie.
func (j *Jar) Names() []string {
	return []string{j.Auth.Name, j.Refresh.Name, j.ID.Name, j.Login.Name}
}
