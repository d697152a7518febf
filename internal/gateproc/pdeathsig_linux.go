package gateproc

import "syscall"

// setParentDeathSignal has the kernel stop authgate if the test binary dies
// without running its cleanups, so no process outlives the run holding a port.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
