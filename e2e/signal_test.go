package e2e

import "syscall"

// syncSignal is what a Kubernetes kubelet sends: authgate must drain and exit.
var syncSignal = syscall.SIGTERM
