package pgtest

import "syscall"

// sysProcAttr runs the child as cred and has the kernel kill it if the test
// binary dies without running its cleanups.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
}
