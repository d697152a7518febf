// Package forwardauth_test runs authgate's forward-auth mode behind the front
// proxies it documents: real Nginx and real Caddy on loopback with the files
// in deploy/ used verbatim, the authgate binary as a process, the embedded
// development provider in Authentik's layout, and a recording app. Traefik
// and Envoy cannot run here; their requests are replayed in the exact shape
// they send, and their deploy files are checked against authgate's names.
package forwardauth_test

import (
	"testing"

	"github.com/authgate/authgate/internal/gateproc"
)

// binary is the authgate executable built once for the package.
var binary string

func TestMain(m *testing.M) { gateproc.Main(m, &binary) }
