package redistest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the kernel kill redis-server if the test binary
// dies without running its cleanups (timeout panic, SIGKILL), so no server
// outlives the test run holding a port.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
