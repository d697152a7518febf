//go:build linux

package hydratest

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill Hydra when the test process dies (a test
// binary killed by -timeout runs no cleanups).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
