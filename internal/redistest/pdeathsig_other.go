//go:build !linux

package redistest

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere t.Cleanup is the only guard.
func setParentDeathSignal(*exec.Cmd) {}
