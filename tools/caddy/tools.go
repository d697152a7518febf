//go:build tools

// Package caddy pins the Caddy version that authgate's forward-auth tests run
// behind (see scripts/build-tools.sh). It is its own module so that Caddy's
// dependency versions cannot move Hydra's (tools/go.mod), and vice versa.
package caddy

import (
	_ "github.com/caddyserver/caddy/v2/cmd/caddy"
)
