package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRing is a keyring of two keys, one revoked, and the plaintext of
// the good one.
func testRing(t *testing.T) (Keyring, string) {
	t.Helper()
	plaintext, k := mustGenerate(t, "ops", []string{"read", "valves:actuate"}, []string{"v-1*"})
	_, old := mustGenerate(t, "old", []string{"admin"}, nil)
	ring := Keyring{Keys: []Key{k, old}}
	if err := ring.Revoke("old", testNow); err != nil {
		t.Fatal(err)
	}
	return ring, plaintext
}

func TestFileStoreMissingFileIsAnEmptyKeyring(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	r, err := s.Load(t.Context())
	if err != nil || len(r.Keys) != 0 {
		t.Errorf("Load of a missing file = %+v, %v; want an empty keyring", r, err)
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// The folder need not exist: the local stack's .localstack/ may not yet.
	s := FileStore{Path: filepath.Join(dir, "new", "keys.json")}
	ring, plaintext := testRing(t)

	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(got.Keys) != 2 || got.Keys[0].ID != "ops" || !got.Keys[1].Disabled || !got.Keys[1].DisabledAt.Equal(testNow) {
		t.Errorf("loaded %+v, want what was saved", got.Keys)
	}
	if _, err := got.Authenticate(plaintext); err != nil {
		t.Errorf("saved key does not authenticate after a reload: %v", err)
	}

	info, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	data, err := os.ReadFile(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), plaintext[len(plaintext)-secretLen:]) {
		t.Error("the key file holds a key's secret")
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d files after Save, want only the key file (no temp files left)", len(entries))
	}
}

func TestFileStoreTightensAnExistingFile(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	if err := os.WriteFile(s.Path, []byte(`{"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ring, _ := testRing(t)
	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode after Save = %v, want 0600", perm)
	}
}

func TestFileStoreSaveIsAllOrNothing(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	ring, _ := testRing(t)
	if err := s.Save(t.Context(), ring); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(s.Path)

	bad := Keyring{Keys: append(ring.Keys, ring.Keys[0])} // duplicate id
	if err := s.Save(t.Context(), bad); err == nil {
		t.Fatal("Save of an invalid keyring succeeded")
	}
	after, _ := os.ReadFile(s.Path)
	if !bytes.Equal(before, after) {
		t.Error("a refused Save changed the file")
	}

	// A reader racing with writers sees a whole keyring every time, the old
	// or the new, never a torn file.
	ctx := t.Context()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r, err := s.Load(ctx); err != nil || len(r.Keys) == 0 {
				t.Errorf("Load during Save = %d keys, %v", len(r.Keys), err)
				return
			}
		}
	}()
	for i := range 50 {
		_, k := mustGenerate(t, fmt.Sprintf("k%d", i), []string{"read"}, nil)
		if err := ring.Add(k); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, ring); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestFileStoreLoadRefusesACorruptFile(t *testing.T) {
	s := FileStore{Path: filepath.Join(t.TempDir(), "keys.json")}
	if err := os.WriteFile(s.Path, []byte(`{"keys":[{"id":"a","hash":"x","scopes":["read"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context()); err == nil || !strings.Contains(err.Error(), s.Path) {
		t.Errorf("Load of a corrupt file = %v, want an error naming the file", err)
	}
}

// countingLoader counts its loads and how many ran at once, and gives
// ring, or err when set.
type countingLoader struct {
	mu       sync.Mutex
	ring     Keyring
	err      error
	release  chan struct{} // when set, each load waits for it
	loads    int
	inFlight int
	maxAtOne int
}

func (l *countingLoader) Load(ctx context.Context) (Keyring, error) {
	l.mu.Lock()
	l.loads++
	l.inFlight++
	l.maxAtOne = max(l.maxAtOne, l.inFlight)
	release := l.release
	l.mu.Unlock()
	if release != nil {
		<-release
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	return l.ring, l.err
}

func (l *countingLoader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads
}

func (l *countingLoader) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCacheLoadsAgainAfterTTL(t *testing.T) {
	ring, _ := testRing(t)
	src := &countingLoader{ring: ring}
	clock := &fakeClock{now: testNow}
	c := NewCache(src, time.Minute, clock.Now)
	ctx := t.Context()

	for _, step := range []struct {
		advance   time.Duration
		wantLoads int
	}{
		{0, 1},                             // the first call loads
		{59 * time.Second, 1},              // younger than the ttl: cached
		{time.Second, 2},                   // ttl old: loads again
		{time.Minute - time.Nanosecond, 2}, // the new value, a nanosecond short of ttl old
		{time.Nanosecond, 3},               // ttl old again
		{10 * time.Minute, 4},              // long after: loads
		{-time.Hour, 5},                    // a clock gone back: the age is unknown, so load
		{0, 5},                             // and that value is fresh
	} {
		clock.Advance(step.advance)
		got, err := c.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if len(got.Keys) != 2 {
			t.Fatalf("Load gave %d keys, want 2", len(got.Keys))
		}
		if n := src.count(); n != step.wantLoads {
			t.Fatalf("after advancing %v: %d loads, want %d", step.advance, n, step.wantLoads)
		}
	}
}

func TestCacheWithZeroTTLAlwaysLoads(t *testing.T) {
	src := &countingLoader{}
	clock := &fakeClock{now: testNow}
	c := NewCache(src, 0, clock.Now)
	for range 3 {
		if _, err := c.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.count(); n != 3 {
		t.Errorf("3 calls with ttl 0 made %d loads, want 3", n)
	}
}

func TestCacheFailsClosedWhenTheReloadFails(t *testing.T) {
	ring, _ := testRing(t)
	src := &countingLoader{ring: ring}
	clock := &fakeClock{now: testNow}
	c := NewCache(src, time.Minute, clock.Now)
	ctx := t.Context()
	if _, err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}

	outage := errors.New("secrets manager unreachable")
	src.fail(outage)
	if _, err := c.Load(ctx); err != nil {
		t.Errorf("while fresh, a broken source is not asked: %v", err)
	}
	clock.Advance(time.Minute)
	if r, err := c.Load(ctx); !errors.Is(err, outage) {
		t.Errorf("stale value and a failed reload = %d keys, %v; want the error, not the stale keyring", len(r.Keys), err)
	}
	if r, err := c.Load(ctx); !errors.Is(err, outage) || src.count() != 3 {
		t.Errorf("the next call = %d keys, %v after %d loads; want it to try the source again", len(r.Keys), err, src.count())
	}

	src.fail(nil)
	if _, err := c.Load(ctx); err != nil {
		t.Errorf("after the source recovers: %v", err)
	}
}

func TestCacheFirstLoadError(t *testing.T) {
	src := &countingLoader{err: errors.New("no such secret")}
	c := NewCache(src, time.Minute, (&fakeClock{now: testNow}).Now)
	if _, err := c.Load(t.Context()); err == nil {
		t.Error("Load with a failing source and nothing cached succeeded")
	}
}

func TestCacheLoadsOneAtATime(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("ttl ", ttl), func(t *testing.T) {
			src := &countingLoader{release: make(chan struct{})}
			c := NewCache(src, ttl, (&fakeClock{now: testNow}).Now)
			const callers = 8
			var wg sync.WaitGroup
			var failed atomic.Int32
			for range callers {
				wg.Go(func() {
					if _, err := c.Load(t.Context()); err != nil {
						failed.Add(1)
					}
				})
			}
			// Let the loads through one by one, as they come.
			go func() {
				for range callers {
					src.release <- struct{}{}
				}
			}()
			wg.Wait()
			if failed.Load() != 0 {
				t.Errorf("%d loads failed", failed.Load())
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			if src.maxAtOne != 1 {
				t.Errorf("%d loads ran at once, want 1", src.maxAtOne)
			}
			if ttl > 0 && src.loads != 1 {
				t.Errorf("%d concurrent callers made %d loads, want 1: they wait for the one in flight", callers, src.loads)
			}
			if ttl == 0 && src.loads != callers {
				t.Errorf("with ttl 0, %d callers made %d loads, want %d", callers, src.loads, callers)
			}
		})
	}
}

func TestCacheWaiterGivesUpWithItsContext(t *testing.T) {
	src := &countingLoader{release: make(chan struct{})}
	c := NewCache(src, time.Minute, (&fakeClock{now: testNow}).Now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Load(context.Background()) // holds the load until released
	}()
	for src.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting with a cancelled context = %v, want context.Canceled", err)
	}
	src.release <- struct{}{}
	<-done
}

func TestCacheWithoutAClockUsesTheTime(t *testing.T) {
	src := &countingLoader{}
	c := NewCache(src, time.Hour, nil)
	for range 2 {
		if _, err := c.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.count(); n != 1 {
		t.Errorf("two calls within the hour made %d loads, want 1", n)
	}
}
