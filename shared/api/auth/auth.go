// Package auth is the API's key authentication (docs/API.md, "Keys"): the key
// format, the keyring that stores only hashes of keys, where the keyring
// is kept (a file locally, a Secrets Manager secret on AWS), and the API
// Gateway authorizer that checks the X-API-Key header against it.
//
// A key reads pv_<key_id>_<secret>. The id travels in the key so that a
// lookup goes straight to one stored hash; the secret is 32 random bytes,
// so a plain SHA-256 of the whole key is all the stored form needs (a slow
// password hash protects guessable secrets, and these are not guessable).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/core/domain"
)

// ErrInvalidKey is the one answer to every key that does not authenticate:
// malformed, unknown id, wrong secret or revoked. A caller who probes
// keys learns nothing about which ids exist.
var ErrInvalidKey = errors.New("invalid API key")

const (
	keyPrefix = "pv_"
	// secretLen is the length of a key's secret: 32 random bytes in
	// lowercase hex. It is fixed, so the secret is read from the end of the
	// key and the id between may itself contain "_".
	secretLen = 64
	// maxKeyLen bounds what is parsed or hashed. The longest well-formed
	// key is 3 + 64 + 1 + 64 = 132 bytes; anything past the bound is
	// refused before any work is spent on it.
	maxKeyLen = 200
	// generatedIDBytes is the randomness of an id chosen by Generate:
	// "k-" and 8 hex digits.
	generatedIDBytes = 4
)

// Generate makes a new key: its plaintext, to hand to the caller once, and
// the Key to store, which holds only its hash. id is the key's id, or ""
// for a generated one. scopes must be known scopes, at least one; assets
// restrict the key to those asset ids or prefixes ("v-1*"), none meaning
// every asset.
func Generate(id string, scopes, assets []string, now time.Time) (plaintext string, k Key, err error) {
	if id == "" {
		var b [generatedIDBytes]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		id = "k-" + hex.EncodeToString(b[:])
	}
	var secret [secretLen / 2]byte
	_, _ = rand.Read(secret[:])
	plaintext = keyPrefix + id + "_" + hex.EncodeToString(secret[:])
	k = Key{
		ID:        id,
		Hash:      hashKey(plaintext),
		Scopes:    compact(scopes),
		Assets:    compact(assets),
		CreatedAt: now.UTC(),
	}
	if err := k.Validate(); err != nil {
		return "", Key{}, err
	}
	return plaintext, k, nil
}

// KeyFromPlaintext makes the stored Key of a key chosen elsewhere, such as
// the local stack's PLAINVIEW_DEV_API_KEY. The key must be well formed
// (pv_<id>_<64 lowercase hex>); whether its secret is random is the
// chooser's affair, which is why deployed functions never take keys this
// way.
func KeyFromPlaintext(plaintext string, scopes, assets []string, now time.Time) (Key, error) {
	id, _, ok := parseKey(plaintext)
	if !ok {
		// The key itself stays out of the message: it may be a real one.
		return Key{}, errors.New("not a key of the form pv_<id>_<64 lowercase hex digits>")
	}
	k := Key{
		ID:        id,
		Hash:      hashKey(plaintext),
		Scopes:    compact(scopes),
		Assets:    compact(assets),
		CreatedAt: now.UTC(),
	}
	if err := k.Validate(); err != nil {
		return Key{}, err
	}
	return k, nil
}

// compact returns the values without duplicates, in their first order, or
// nil for none (so an unrestricted key has no "assets" in JSON).
func compact(values []string) []string {
	var out []string
	for _, v := range values {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// parseKey splits a presented key into its id and secret. ok is false for
// anything that is not a well-formed key: the "pv_" prefix, a valid id, "_"
// and exactly 64 lowercase hex digits.
func parseKey(s string) (id, secret string, ok bool) {
	if len(s) > maxKeyLen || len(s) < len(keyPrefix)+1+1+secretLen || !strings.HasPrefix(s, keyPrefix) {
		return "", "", false
	}
	cut := len(s) - secretLen
	secret = s[cut:]
	if s[cut-1] != '_' || !isLowerHex(secret) {
		return "", "", false
	}
	id = s[len(keyPrefix) : cut-1]
	if !domain.ValidID(id) {
		return "", "", false
	}
	return id, secret, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hashKey is the stored form of a key: the SHA-256 of the whole key, in
// lowercase hex.
func hashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// knownScope reports whether s is one of docs/API.md's scopes. The route table
// declares them, so a scope added there is known here.
func knownScope(s string) bool {
	switch routes.Scope(s) {
	case routes.Read, routes.ValvesActuate, routes.ValvesOverride,
		routes.IncidentsWrite, routes.AlertsWrite, routes.Admin:
		return true
	}
	return false
}

// validAssetPattern reports whether p is an asset id, or an id followed by
// one "*" that matches every asset starting with that id.
func validAssetPattern(p string) bool {
	return domain.ValidID(strings.TrimSuffix(p, "*"))
}

// Principal is who a request comes from: the key that authenticated it
// and what that key may do.
type Principal struct {
	KeyID  string
	Scopes []string
	Assets []string // asset ids and prefix patterns; none means every asset
}

// Has reports whether the principal holds scope. admin holds every scope.
// "" (a public route's scope) is no scope, and nobody holds it: a public
// route does not ask.
func (p Principal) Has(scope string) bool {
	if scope == "" {
		return false
	}
	return slices.Contains(p.Scopes, scope) || slices.Contains(p.Scopes, string(routes.Admin))
}

// MayUse reports whether the principal may act on asset: a key without
// assets may use every asset, one with assets only those it names exactly
// or by a pattern's prefix ("v-1*" matches "v-1", "v-101").
func (p Principal) MayUse(asset string) bool {
	if len(p.Assets) == 0 {
		return true
	}
	for _, pattern := range p.Assets {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			if strings.HasPrefix(asset, prefix) {
				return true
			}
		} else if asset == pattern {
			return true
		}
	}
	return false
}

// The keys of the authorizer context. API Gateway only passes strings,
// numbers and booleans on to the integration, so lists travel as
// space-separated strings (ids and scopes hold no spaces).
const (
	ctxKeyID  = "key_id"
	ctxScopes = "scopes"
	ctxAssets = "assets"
)

// allAssets stands for "no restriction" in the context. It is not the
// empty string because nothing promises that API Gateway passes an empty
// context value on; a missing value must read as a refusal, never as
// every asset.
const allAssets = "*"

// Context is the principal as the authorizer hands it to API Gateway,
// which passes it to the function in requestContext.authorizer.
func (p Principal) Context() map[string]string {
	assets := strings.Join(p.Assets, " ")
	if assets == "" {
		assets = allAssets
	}
	return map[string]string{
		ctxKeyID:  p.KeyID,
		ctxScopes: strings.Join(p.Scopes, " "),
		ctxAssets: assets,
	}
}

// PrincipalFromContext reads the principal the authorizer put in a
// request's context (events.APIGatewayProxyRequestContext.Authorizer). ok
// is false when the request carries no authorized key: key_id missing or
// empty, or any of the three values missing or not a string. The last
// matters because an absent "assets" would otherwise read as every asset:
// a context the authorizer did not write is refused, not widened.
func PrincipalFromContext(m map[string]interface{}) (Principal, bool) {
	keyID, ok1 := m[ctxKeyID].(string)
	scopes, ok2 := m[ctxScopes].(string)
	assets, ok3 := m[ctxAssets].(string)
	if !ok1 || !ok2 || !ok3 || keyID == "" || assets == "" {
		return Principal{}, false
	}
	if assets == allAssets {
		assets = ""
	}
	return Principal{KeyID: keyID, Scopes: fields(scopes), Assets: fields(assets)}, true
}

// fields is strings.Fields with nil, not an empty slice, for no fields,
// so a round trip through Context gives back what went in.
func fields(s string) []string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	return f
}

// keyError is a validation error about the key id: every one names the
// key, so a bad entry in a keyring of many is found at once.
func keyError(id, format string, args ...any) error {
	return fmt.Errorf("key %q: %s", id, fmt.Sprintf(format, args...))
}
