// Package cpuclock reads the CPU time spent so far by this process and by
// another one, such as the stack's DynamoDB Local, so a benchmark can say
// how much of each request or reading was our code's and how much the
// store's. DynamoDB Local is much slower than DynamoDB, so an end-to-end
// figure alone says little about our code.
package cpuclock

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Times are CPU times (user and system).
type Times struct {
	Self  time.Duration // this process
	Other time.Duration // the other process; 0 if it could not be read
}

// Sub is the CPU spent between u and t.
func (t Times) Sub(u Times) Times { return Times{Self: t.Self - u.Self, Other: t.Other - u.Other} }

// Read returns the CPU time of this process and of process other (0 for
// none).
func Read(other int) Times {
	var ru syscall.Rusage
	var t Times
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.Self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if other > 0 {
		t.Other = processCPU(other)
	}
	return t
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100
// on every architecture Go supports there.
const clockTicks = 100

// processCPU is a process's user and system time from /proc/<pid>/stat,
// or 0 where that cannot be read.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime from a /proc/<pid>/stat line: the 12th
// and 13th fields after "(comm)", which may itself hold spaces and ')'.
func parseStat(s string) time.Duration {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || u < 0 || st < 0 {
		return 0
	}
	return time.Duration(u+st) * time.Second / clockTicks
}

// PerItem formats d spread over n items, in milliseconds.
func PerItem(d time.Duration, n int) string {
	if n <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)/float64(n))
}
