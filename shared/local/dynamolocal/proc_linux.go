package dynamolocal

import "syscall"

// sysProcAttr puts the JVM in a process group of its own (a terminal's
// Ctrl-C reaches the stack, which then stops it after its last writes) and
// has the kernel send it SIGTERM when its parent dies, so a crashed or
// SIGKILLed stack or test binary leaves no Java process behind.
//
// SIGTERM, not SIGKILL: DynamoDB Local answers a write a few milliseconds
// before SQLite has it on disk. Killed in that window it loses the write
// it acknowledged last (seen here: 19 of 20 after a SIGKILL straight after
// the 20th answer; 20 of 20 after a SIGTERM, which runs its shutdown hook).
// (The kernel sends it when the thread that started the process ends; Go
// ends threads only for goroutines locked to them, which Start is not.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
