//go:build tools

// Package tools pins the versions of the external programs that authgate's
// end-to-end tests run (see scripts/build-tools.sh). It is a separate module
// so that the main module's dependency graph stays small.
package tools

import (
	_ "github.com/ory/hydra/v2"
)
