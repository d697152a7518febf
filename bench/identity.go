package bench

import (
	"crypto/sha256"
	"encoding/hex"
)

// AliceSub is the subject devprovider derives for the username alice, the
// user the load benchmark's tokens and session cookie belong to.
func AliceSub() string {
	sum := sha256.Sum256([]byte("authgate-devprovider:alice"))
	return hex.EncodeToString(sum[:])
}

// Identity is what authgate sends upstream for alice with its default role
// rules: the six identity headers, in their canonical spelling. The
// baselines that stand in for authgate (a trivial forward-auth handler, a
// bare proxy sending the same headers) send exactly these.
func Identity() [][2]string {
	return [][2]string{
		{"X-User-Sub", AliceSub()},
		{"X-Org-Id", "org-1"},
		{"X-Role", "admin"},
		{"X-User-Email", "alice@example.com"},
		{"X-User-Name", "Alice Example"},
		{"X-User-Groups", "ecosire-admins,staff"},
	}
}
