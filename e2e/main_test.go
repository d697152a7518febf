// Package e2e drives the built authgate binary, as a process, through the
// whole browser flow against a real OpenID provider (Ory Hydra v2.3.0), a real
// upstream and a real Redis.
package e2e

import (
	"testing"

	"github.com/authgate/authgate/internal/gateproc"
)

// binary is the authgate executable built once for the package.
var binary string

func TestMain(m *testing.M) { gateproc.Main(m, &binary) }
