package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Loader gives the current keyring.
type Loader interface {
	Load(ctx context.Context) (Keyring, error)
}

// FileStore keeps the keyring in a local file: the local stack's key
// store, standing in for the Secrets Manager secret.
type FileStore struct {
	Path string
}

// Load reads the keyring. A missing file is an empty keyring: the local
// stack starts without one.
func (s FileStore) Load(ctx context.Context) (Keyring, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Keyring{}, nil
	}
	if err != nil {
		return Keyring{}, fmt.Errorf("read key file: %w", err)
	}
	r, err := ParseKeyring(data)
	if err != nil {
		return Keyring{}, fmt.Errorf("key file %s: %w", s.Path, err)
	}
	return r, nil
}

// Save writes the keyring, readable by its owner only. It writes a
// temporary file beside the real one and renames it over it, so a reader
// (the running local stack) sees the old keyring or the new one, never
// half of one, and a crash mid-write leaves the old file intact.
func (s FileStore) Save(ctx context.Context, r Keyring) error {
	data, err := r.Encode()
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("key file folder: %w", err)
	}
	// CreateTemp makes the file 0600, so the hashes are never readable by
	// others, not even for the moment before the rename.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.Path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	// Sync before the rename: otherwise a crash can leave the new name
	// pointing at a file whose data never reached the disk.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

// Cache keeps a keyring from a Loader for a while, so the authorizer does
// not call Secrets Manager on every request. It is safe for concurrent use.
type Cache struct {
	src Loader
	ttl time.Duration
	now func() time.Time

	// loading holds one token: whoever has it may call src. Concurrent
	// callers wait for that load rather than each starting their own, and
	// a waiter whose context ends stops waiting.
	loading chan struct{}

	mu       sync.Mutex // guards the fields below
	ring     Keyring
	loadedAt time.Time
	loaded   bool
}

// NewCache returns a cache over src that loads again once its keyring is
// ttl old; a ttl of 0 loads on every call. now is the clock; nil is
// time.Now.
func NewCache(src Loader, ttl time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{src: src, ttl: ttl, now: now, loading: make(chan struct{}, 1)}
}

// Load returns the cached keyring while it is younger than the ttl, and
// loads it from the source otherwise.
//
// When that load fails, Load fails too, even though an older keyring is at
// hand. Serving the stale one would keep a revoked key working for as long
// as the source stays unreachable, while docs/API.md promises revocation within
// the cache lifetime; refusing every request for a while (API Gateway
// answers 500) is the lesser harm. The failure is not cached: the next
// call tries again.
func (c *Cache) Load(ctx context.Context) (Keyring, error) {
	if r, ok := c.fresh(); ok {
		return r, nil
	}
	select {
	case c.loading <- struct{}{}:
	case <-ctx.Done():
		return Keyring{}, fmt.Errorf("wait for key load: %w", ctx.Err())
	}
	defer func() { <-c.loading }()
	// Whoever held the token before may have just loaded it.
	if r, ok := c.fresh(); ok {
		return r, nil
	}
	// The age counts from before the load: the keyring is at least as old
	// as the moment it was asked for.
	start := c.now()
	r, err := c.src.Load(ctx)
	if err != nil {
		return Keyring{}, fmt.Errorf("load keys: %w", err)
	}
	c.mu.Lock()
	c.ring, c.loadedAt, c.loaded = r, start, true
	c.mu.Unlock()
	return r, nil
}

func (c *Cache) fresh() (Keyring, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A negative age is a clock that went back: how old the keyring is
	// is then unknown, and unknown counts as stale.
	age := c.now().Sub(c.loadedAt)
	if !c.loaded || c.ttl <= 0 || age < 0 || age >= c.ttl {
		return Keyring{}, false
	}
	return c.ring, true
}
