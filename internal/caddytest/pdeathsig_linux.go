package caddytest

import "syscall"

// setParentDeathSignal has the kernel stop Caddy if the test binary dies
// without running its cleanups, so no Caddy outlives the run holding a port.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
