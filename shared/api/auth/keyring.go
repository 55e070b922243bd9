package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

// Key is one stored key: never the key itself, only its hash.
type Key struct {
	ID         string     `json:"id"`
	Hash       string     `json:"hash"` // SHA-256 of the whole key, lowercase hex
	Scopes     []string   `json:"scopes"`
	Assets     []string   `json:"assets,omitempty"` // none: every asset
	CreatedAt  time.Time  `json:"created_at"`
	Disabled   bool       `json:"disabled"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// Validate checks what the authorizer relies on: a valid id, a hash of
// the right form, at least one scope and only known ones, and well-formed
// asset patterns.
func (k Key) Validate() error {
	if !domain.ValidID(k.ID) {
		return fmt.Errorf("key id %q is not valid: 1 to 64 letters, digits, - or _", k.ID)
	}
	if len(k.Hash) != 2*sha256.Size || !isLowerHex(k.Hash) {
		return keyError(k.ID, "hash is not 64 lowercase hex digits")
	}
	if len(k.Scopes) == 0 {
		return keyError(k.ID, "no scopes")
	}
	for _, s := range k.Scopes {
		if !knownScope(s) {
			return keyError(k.ID, "unknown scope %q (known: read, valves:actuate, valves:override, incidents:write, alerts:write, admin)", s)
		}
	}
	for _, a := range k.Assets {
		if !validAssetPattern(a) {
			return keyError(k.ID, "asset %q is neither an asset id nor an id followed by one *", a)
		}
	}
	return nil
}

// Keyring is every key of the API. Its JSON is the local key file and the
// Secrets Manager secret string alike.
type Keyring struct {
	Keys []Key `json:"keys"`
}

// Validate checks every key and that no two share an id (the id is how a
// presented key finds its hash).
func (r Keyring) Validate() error {
	seen := make(map[string]bool, len(r.Keys))
	for _, k := range r.Keys {
		if err := k.Validate(); err != nil {
			return err
		}
		if seen[k.ID] {
			return keyError(k.ID, "id appears more than once")
		}
		seen[k.ID] = true
	}
	return nil
}

// Add adds k to the keyring. A key whose id is taken is refused: two
// entries for one id would make the lookup ambiguous.
func (r *Keyring) Add(k Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if _, ok := r.find(k.ID); ok {
		return keyError(k.ID, "a key with this id exists")
	}
	r.Keys = append(r.Keys, k)
	return nil
}

// Revoke disables the key id from now on. The entry stays, so the id is
// not reused by a new key and the record of it remains. Revoking a revoked
// key changes nothing; an unknown id is an error.
func (r *Keyring) Revoke(id string, now time.Time) error {
	i := slices.IndexFunc(r.Keys, func(k Key) bool { return k.ID == id })
	if i < 0 {
		return fmt.Errorf("no key with id %q", id)
	}
	if r.Keys[i].Disabled {
		return nil
	}
	at := now.UTC()
	r.Keys[i].Disabled, r.Keys[i].DisabledAt = true, &at
	return nil
}

// Has reports whether the keyring holds a key with this id, revoked or
// not.
func (r Keyring) Has(id string) bool {
	_, ok := r.find(id)
	return ok
}

func (r Keyring) find(id string) (Key, bool) {
	i := slices.IndexFunc(r.Keys, func(k Key) bool { return k.ID == id })
	if i < 0 {
		return Key{}, false
	}
	return r.Keys[i], true
}

// Authenticate checks a presented key and returns its principal. Every
// failure is ErrInvalidKey.
func (r Keyring) Authenticate(presented string) (Principal, error) {
	p, reason := r.authenticate(presented)
	if reason != "" {
		return Principal{}, ErrInvalidKey
	}
	return p, nil
}

// denial is why a key was refused, for the log only: the caller always
// gets ErrInvalidKey.
type denial string

const (
	deniedMalformed denial = "malformed key"
	deniedUnknown   denial = "unknown key id"
	deniedSecret    denial = "wrong secret"
	deniedRevoked   denial = "key revoked"
)

// noHash stands in for the stored hash of an unknown id, so an unknown id
// costs the same hash and compare as a known one: the time of an answer
// does not tell which ids exist.
const noHash = "0000000000000000000000000000000000000000000000000000000000000000"

// authenticate is Authenticate with the reason of a refusal ("" when the
// key is good).
func (r Keyring) authenticate(presented string) (Principal, denial) {
	id, _, ok := parseKey(presented) // refuses oversized keys before hashing
	if !ok {
		return Principal{}, deniedMalformed
	}
	k, found := r.find(id)
	stored := noHash
	if found {
		stored = k.Hash
	}
	want, err := hex.DecodeString(stored)
	got := sha256.Sum256([]byte(presented))
	// A constant-time compare: how long it takes must not tell how many
	// leading bytes of a guess were right.
	match := err == nil && subtle.ConstantTimeCompare(got[:], want) == 1
	switch {
	case !found:
		return Principal{}, deniedUnknown
	case !match:
		return Principal{}, deniedSecret
	case k.Disabled:
		return Principal{}, deniedRevoked
	}
	// Copies: the principal outlives the request, the keyring may be a
	// cache shared by every request.
	return Principal{KeyID: k.ID, Scopes: slices.Clone(k.Scopes), Assets: slices.Clone(k.Assets)}, ""
}

// ParseKeyring reads a keyring's JSON strictly and validates it. An
// unknown field is an error, not ignored: a misspelt "scopes" or "disabled"
// in a hand-edited file must stop the load, not quietly change a key.
func ParseKeyring(data []byte) (Keyring, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Keyring
	if err := dec.Decode(&r); err != nil {
		return Keyring{}, fmt.Errorf("decode keyring: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Keyring{}, errors.New("decode keyring: data after the keyring")
	}
	if err := r.Validate(); err != nil {
		return Keyring{}, fmt.Errorf("invalid keyring: %w", err)
	}
	return r, nil
}

// Encode is the keyring's JSON, indented for a person reading the
// file, after validating it: nothing invalid is ever written.
func (r Keyring) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("invalid keyring: %w", err)
	}
	if r.Keys == nil {
		r.Keys = []Key{} // "keys": [], not null
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode keyring: %w", err)
	}
	return append(b, '\n'), nil
}
