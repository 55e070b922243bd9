package stack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestTheMetricsLogIsCappedAndKeepsWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.log")
	const max = 4 << 10
	l, err := openCappedLog(path, max)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if _, err := fmt.Fprintf(l, `{"writer":%d,"line":%d}`+"\n", w, i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".1"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b) > max || b[len(b)-1] != '\n' || !bytes.HasPrefix(b, []byte(`{"writer":`)) {
			t.Errorf("%s: %d bytes (cap %d), not whole lines", p, len(b), max)
		}
	}
	// Reopened, it goes on from the size it has.
	l, err = openCappedLog(path, max)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 400 {
		fmt.Fprintln(l, `{"after":"restart"}`)
	}
	if st, _ := os.Stat(path); st.Size() > max {
		t.Errorf("after a restart: %d bytes", st.Size())
	}
}
