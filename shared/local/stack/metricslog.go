package stack

import (
	"fmt"
	"os"
	"sync"
)

// metricsLogMax is how large <data>/metrics.log grows before it is moved
// aside to metrics.log.1 (replacing the one before) and started afresh:
// the local stand-in for a log group's retention, so a stack left running
// keeps at most about twice this on disk.
const metricsLogMax = 64 << 20

// cappedLog is an append-only file with a size cap. A line is never split
// across the two files: the move happens before a write that would pass
// the cap.
type cappedLog struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

func openCappedLog(path string, max int64) (*cappedLog, error) {
	l := &cappedLog{path: path, max: max}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *cappedLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *cappedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.f.Close(); err != nil {
			return 0, fmt.Errorf("metrics log: %w", err)
		}
		l.f = nil
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return 0, fmt.Errorf("metrics log: %w", err)
		}
		if err := l.open(); err != nil {
			return 0, fmt.Errorf("metrics log: %w", err)
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *cappedLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
