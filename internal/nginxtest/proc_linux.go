package nginxtest

import "syscall"

// sysProcAttr has the kernel stop the Nginx master (SIGTERM: a fast shutdown
// that takes the workers along) if the test binary dies without running its
// cleanups, so no Nginx outlives the run holding a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
