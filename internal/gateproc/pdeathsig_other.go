//go:build !linux

package gateproc

import "syscall"

// setParentDeathSignal is Linux-only; elsewhere t.Cleanup is the only guard.
func setParentDeathSignal(*syscall.SysProcAttr) {}
