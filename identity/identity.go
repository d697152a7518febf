// Package identity turns verified token claims into the user authgate vouches
// for: who they are, which organization they act for, and which role they hold.
package identity

import (
	"time"

	"github.com/authgate/authgate/tokens"
)

// Identity is what the upstream learns about a user, through headers in proxy
// mode and forward-auth mode and as JSON from /auth/session.
type Identity struct {
	Subject        string    `json:"sub"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	OrganizationID string    `json:"organizationId"`
	Role           string    `json:"role"`
	Groups         []string  `json:"groups"`
	ExpiresAt      time.Time `json:"expiresAt"`
	// SessionID is the provider's "sid"; it is used for back-channel logout and not shown.
	SessionID string `json:"-"`
}

// RoleRule maps members of Group to Role. Rules are ordered: the first rule
// whose group the user is in wins, so "admin" can outrank "support".
type RoleRule struct {
	Group string `mapstructure:"group" yaml:"group" json:"group"`
	Role  string `mapstructure:"role" yaml:"role" json:"role"`
}

// DefaultRules are the seed's mapping.
var DefaultRules = []RoleRule{
	{Group: "ecosire-admins", Role: "admin"},
	{Group: "ecosire-support", Role: "support"},
}

// DefaultRole is given to users no rule matches.
const DefaultRole = "user"

// Mapper maps claims to an Identity.
type Mapper struct {
	Rules       []RoleRule
	DefaultRole string
}

// FromClaims builds the identity. organizationId falls back to sub, as the
// seed's Authentik scope mapping does for users without the attribute, so
// every request carries a tenant.
func (m Mapper) FromClaims(c *tokens.Claims) Identity {
	id := Identity{
		Subject:        c.Subject,
		Email:          c.Email,
		Name:           c.Name,
		OrganizationID: c.OrganizationID,
		Groups:         c.Groups,
		ExpiresAt:      c.Expiry.Time,
		SessionID:      c.SessionID,
	}
	if id.Name == "" {
		id.Name = c.Username
	}
	if id.OrganizationID == "" {
		id.OrganizationID = c.Subject
	}
	if id.Groups == nil {
		id.Groups = []string{}
	}
	id.Role = m.Role(c.Groups)
	return id
}

// Role returns the role for a set of groups.
func (m Mapper) Role(groups []string) string {
	for _, r := range m.Rules {
		for _, g := range groups {
			if g == r.Group {
				return r.Role
			}
		}
	}
	if m.DefaultRole != "" {
		return m.DefaultRole
	}
	return DefaultRole
}

// HasGroup reports whether the identity is in group.
func (id Identity) HasGroup(group string) bool {
	for _, g := range id.Groups {
		if g == group {
			return true
		}
	}
	return false
}
