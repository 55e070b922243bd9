//go:build unix && !linux

package dynamolocal

import "syscall"

// sysProcAttr puts the JVM in a process group of its own. Outside Linux
// there is no parent-death signal: a crashed parent leaves it running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
