//go:build !linux

package nginxtest

import "syscall"

// sysProcAttr is Linux-only; elsewhere t.Cleanup is the only guard.
func sysProcAttr() *syscall.SysProcAttr { return nil }
