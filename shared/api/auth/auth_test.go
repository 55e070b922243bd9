package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

var testNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// mustGenerate makes a key for a test and returns its plaintext and entry.
func mustGenerate(t *testing.T, id string, scopes, assets []string) (string, Key) {
	t.Helper()
	plaintext, k, err := Generate(id, scopes, assets, testNow)
	if err != nil {
		t.Fatalf("Generate(%q, %v, %v): %v", id, scopes, assets, err)
	}
	return plaintext, k
}

func TestGeneratedKeyAuthenticates(t *testing.T) {
	plaintext, k := mustGenerate(t, "", []string{"read", "valves:actuate"}, []string{"v-1*", "A-North"})

	if !regexp.MustCompile(`^pv_k-[0-9a-f]{8}_[0-9a-f]{64}$`).MatchString(plaintext) {
		t.Errorf("key %q is not pv_k-<8 hex>_<64 hex>", plaintext)
	}
	if want := "pv_" + k.ID + "_"; !strings.HasPrefix(plaintext, want) {
		t.Errorf("key does not carry its id %q", k.ID)
	}
	sum := sha256.Sum256([]byte(plaintext))
	if k.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("stored hash is not the SHA-256 of the whole key")
	}
	if !k.CreatedAt.Equal(testNow) || k.Disabled || k.DisabledAt != nil {
		t.Errorf("new key = created %v disabled %v %v, want created %v, enabled", k.CreatedAt, k.Disabled, k.DisabledAt, testNow)
	}
	stored, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), plaintext[len(plaintext)-secretLen:]) {
		t.Errorf("the stored key holds the secret: %s", stored)
	}

	var ring Keyring
	if err := ring.Add(k); err != nil {
		t.Fatalf("Add: %v", err)
	}
	p, err := ring.Authenticate(plaintext)
	if err != nil {
		t.Fatalf("Authenticate(new key): %v", err)
	}
	want := Principal{KeyID: k.ID, Scopes: []string{"read", "valves:actuate"}, Assets: []string{"v-1*", "A-North"}}
	if !equalPrincipal(p, want) {
		t.Errorf("principal = %+v, want %+v", p, want)
	}
}

func TestGenerateKeepsAChosenID(t *testing.T) {
	plaintext, k := mustGenerate(t, "ci_runner_2-b", []string{"read"}, nil)
	if k.ID != "ci_runner_2-b" || !strings.HasPrefix(plaintext, "pv_ci_runner_2-b_") {
		t.Errorf("id = %q, key %q..., want the chosen id", k.ID, plaintext[:20])
	}
	if k.Assets != nil {
		t.Errorf("assets = %#v, want nil (every asset)", k.Assets)
	}
}

func TestGeneratedKeysDiffer(t *testing.T) {
	a, ka := mustGenerate(t, "", []string{"read"}, nil)
	b, kb := mustGenerate(t, "", []string{"read"}, nil)
	if a == b || ka.ID == kb.ID || ka.Hash == kb.Hash {
		t.Errorf("two generated keys share a value: %s %s / %s %s", ka.ID, ka.Hash, kb.ID, kb.Hash)
	}
}

func TestGenerateDropsRepeatedScopesAndAssets(t *testing.T) {
	_, k := mustGenerate(t, "x", []string{"read", "admin", "read"}, []string{"v-1", "v-1"})
	if !slices.Equal(k.Scopes, []string{"read", "admin"}) || !slices.Equal(k.Assets, []string{"v-1"}) {
		t.Errorf("scopes %v assets %v, want [read admin] [v-1]", k.Scopes, k.Assets)
	}
}

func TestGenerateRefusesWhatCannotBeStored(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		scopes []string
		assets []string
	}{
		{"id with a space", "my key", []string{"read"}, nil},
		{"id with a dot", "a.b", []string{"read"}, nil},
		{"id of 65 characters", strings.Repeat("a", 65), []string{"read"}, nil},
		{"no scopes", "a", nil, nil},
		{"unknown scope", "a", []string{"read", "write"}, nil},
		{"scope in the wrong case", "a", []string{"Read"}, nil},
		{"a bare star", "a", []string{"read"}, []string{"*"}},
		{"two stars", "a", []string{"read"}, []string{"v-1**"}},
		{"star inside", "a", []string{"read"}, []string{"v*1"}},
		{"empty asset", "a", []string{"read"}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plaintext, k, err := Generate(tt.id, tt.scopes, tt.assets, testNow)
			if err == nil {
				t.Fatalf("Generate(%q, %v, %v) = key %q, want an error", tt.id, tt.scopes, tt.assets, k.ID)
			}
			if plaintext != "" {
				t.Errorf("a refused key still came back")
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	secret := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name   string
		key    string
		wantID string // "" when the key must be refused
	}{
		{"plain id", "pv_abc_" + secret, "abc"},
		{"id with underscores", "pv_ci_runner_2_" + secret, "ci_runner_2"},
		{"id ending in an underscore", "pv_a__" + secret, "a_"},
		{"id with dashes", "pv_k-0a1b2c3d_" + secret, "k-0a1b2c3d"},
		{"id of 64 characters", "pv_" + strings.Repeat("i", 64) + "_" + secret, strings.Repeat("i", 64)},
		{"id of 65 characters", "pv_" + strings.Repeat("i", 65) + "_" + secret, ""},
		{"empty id", "pv__" + secret, ""},
		{"secret one short", "pv_abc_" + secret[1:], ""},
		{"secret one long", "pv_abc_0" + secret, ""},
		{"uppercase hex", "pv_abc_" + strings.ToUpper(secret), ""},
		{"one uppercase digit", "pv_abc_" + secret[:63] + "F", ""},
		{"not hex", "pv_abc_" + secret[:63] + "g", ""},
		{"missing prefix", "abc_" + secret, ""},
		{"prefix in capitals", "PV_abc_" + secret, ""},
		{"other prefix", "pk_abc_" + secret, ""},
		{"no separator before the secret", "pv_abc" + secret, ""},
		{"id with a dot", "pv_a.b_" + secret, ""},
		{"id with a space", "pv_a b_" + secret, ""},
		{"surrounding space", " pv_abc_" + secret, ""},
		{"only the prefix", "pv_", ""},
		{"empty", "", ""},
		{"the sample event's placeholder", "pv_example_notasecret", ""},
		{"over 200 bytes", "pv_" + strings.Repeat("i", 140) + "_" + secret, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, gotSecret, ok := parseKey(tt.key)
			if tt.wantID == "" {
				if ok {
					t.Fatalf("parseKey(%q) = %q, accepted; want refused", tt.key, id)
				}
				return
			}
			if !ok || id != tt.wantID || gotSecret != secret {
				t.Errorf("parseKey(%q) = %q, %q, %v; want %q and the secret", tt.key, id, gotSecret, ok, tt.wantID)
			}
		})
	}
}

func TestAuthenticateRefusesEveryBadKeyAlike(t *testing.T) {
	good, k := mustGenerate(t, "ops_team", []string{"read"}, nil)
	revokedKey, revoked := mustGenerate(t, "old", []string{"admin"}, nil)
	var ring Keyring
	for _, k := range []Key{k, revoked} {
		if err := ring.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := ring.Revoke("old", testNow); err != nil {
		t.Fatal(err)
	}
	secret := good[len(good)-secretLen:]
	flip := func(c byte) string {
		if c == '0' {
			return "1"
		}
		return "0"
	}

	tests := []struct {
		name string
		key  string
	}{
		// The compare looks at every byte: a guess right but for its last
		// or its first digit is as wrong as any other.
		{"last digit wrong", good[:len(good)-1] + flip(good[len(good)-1])},
		{"first secret digit wrong", "pv_ops_team_" + flip(secret[0]) + secret[1:]},
		{"right secret, unknown id", "pv_ops_tean_" + secret},
		{"right secret, another key's id", "pv_old_" + secret},
		{"unknown id", "pv_nobody_" + strings.Repeat("0", 64)},
		{"revoked key", revokedKey},
		{"secret in capitals", "pv_ops_team_" + strings.ToUpper(secret)},
		{"malformed", "pv_ops_team"},
		{"empty", ""},
		{"oversized", good + strings.Repeat("0", 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ring.Authenticate(tt.key)
			if err != ErrInvalidKey {
				t.Errorf("Authenticate = %+v, %v; want ErrInvalidKey itself", p, err)
			}
			if p.KeyID != "" || p.Scopes != nil {
				t.Errorf("a refused key gave a principal: %+v", p)
			}
		})
	}

	if _, err := ring.Authenticate(good); err != nil {
		t.Errorf("the good key itself: %v", err)
	}
}

func TestAuthenticateGivesACopy(t *testing.T) {
	plaintext, k := mustGenerate(t, "a", []string{"read"}, []string{"v-1"})
	ring := Keyring{Keys: []Key{k}}
	p, err := ring.Authenticate(plaintext)
	if err != nil {
		t.Fatal(err)
	}
	p.Scopes[0], p.Assets[0] = "admin", "v-2"
	if ring.Keys[0].Scopes[0] != "read" || ring.Keys[0].Assets[0] != "v-1" {
		t.Errorf("changing a principal changed the keyring: %+v", ring.Keys[0])
	}
}

func TestPrincipalHas(t *testing.T) {
	reader := Principal{KeyID: "r", Scopes: []string{"read", "incidents:write"}}
	admin := Principal{KeyID: "a", Scopes: []string{"admin"}}
	tests := []struct {
		p     Principal
		scope string
		want  bool
	}{
		{reader, "read", true},
		{reader, "incidents:write", true},
		{reader, "valves:actuate", false},
		{reader, "admin", false},
		{reader, "", false},
		{admin, "read", true},
		{admin, "valves:override", true},
		{admin, "admin", true},
		{admin, "", false},
		{Principal{}, "read", false},
	}
	for _, tt := range tests {
		if got := tt.p.Has(tt.scope); got != tt.want {
			t.Errorf("%v.Has(%q) = %v, want %v", tt.p.Scopes, tt.scope, got, tt.want)
		}
	}
}

func TestPrincipalMayUse(t *testing.T) {
	all := Principal{KeyID: "all"}
	some := Principal{KeyID: "some", Assets: []string{"v-1*", "A-North"}}
	tests := []struct {
		p     Principal
		asset string
		want  bool
	}{
		{all, "v-101", true},
		{all, "anything", true},
		{some, "v-1", true},
		{some, "v-101", true},
		{some, "v-2", false},
		{some, "v-", false},
		{some, "A-North", true},
		{some, "A-North-2", false}, // no star: exact only
		{some, "a-north", false},
		{some, "", false},
	}
	for _, tt := range tests {
		if got := tt.p.MayUse(tt.asset); got != tt.want {
			t.Errorf("assets %v: MayUse(%q) = %v, want %v", tt.p.Assets, tt.asset, got, tt.want)
		}
	}
}

// asDelivered is a context as a function receives it: API Gateway's JSON,
// decoded into events.APIGatewayProxyRequestContext.Authorizer.
func asDelivered(t *testing.T, c map[string]string) map[string]interface{} {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// API Gateway adds its own entries beside the authorizer's.
	m["principalId"] = c["key_id"]
	m["integrationLatency"] = float64(12)
	return m
}

func TestContextRoundTrip(t *testing.T) {
	for _, p := range []Principal{
		{KeyID: "ops_team", Scopes: []string{"read", "valves:actuate"}, Assets: []string{"v-1*", "A-North"}},
		{KeyID: "k-0a1b2c3d", Scopes: []string{"admin"}},
	} {
		c := p.Context()
		for k, v := range c {
			if k != "key_id" && k != "scopes" && k != "assets" {
				t.Errorf("unexpected context key %q = %q", k, v)
			}
		}
		got, ok := PrincipalFromContext(asDelivered(t, c))
		if !ok || !equalPrincipal(got, p) {
			t.Errorf("round trip of %+v = %+v, %v", p, got, ok)
		}
	}
	if c := (Principal{KeyID: "x", Scopes: []string{"read", "admin"}}).Context(); c["scopes"] != "read admin" || c["assets"] != "*" {
		t.Errorf("context = %v, want scopes \"read admin\", assets \"*\" (every asset)", c)
	}
}

func TestPrincipalFromContextRefusesWhatTheAuthorizerDidNotWrite(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]interface{}
	}{
		{"nil (a public route)", nil},
		{"empty", map[string]interface{}{}},
		{"no key id", map[string]interface{}{"scopes": "read", "assets": ""}},
		{"empty key id", map[string]interface{}{"key_id": "", "scopes": "read", "assets": ""}},
		{"key id not a string", map[string]interface{}{"key_id": 7.0, "scopes": "read", "assets": ""}},
		{"no assets (would widen to every asset)", map[string]interface{}{"key_id": "a", "scopes": "read"}},
		{"no scopes", map[string]interface{}{"key_id": "a", "assets": "*"}},
		{"empty assets (a dropped value, not every asset)", map[string]interface{}{"key_id": "a", "scopes": "read", "assets": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, ok := PrincipalFromContext(tt.m); ok {
				t.Errorf("PrincipalFromContext(%v) = %+v, true; want false", tt.m, p)
			}
		})
	}
}

func equalPrincipal(a, b Principal) bool {
	return a.KeyID == b.KeyID && slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Assets, b.Assets)
}

// FuzzParseKey checks the key parser against any input: it never panics,
// and whatever it accepts is exactly pv_<valid id>_<64 lowercase hex>.
func FuzzParseKey(f *testing.F) {
	secret := strings.Repeat("0123456789abcdef", 4)
	for _, s := range []string{
		"pv_abc_" + secret,
		"pv_a__" + secret,
		"pv__" + secret,
		"pv_abc_" + strings.ToUpper(secret),
		"pv_example_notasecret",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := parseKey(s)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("refused %q but returned %q, %q", s, id, secret)
			}
			return
		}
		if "pv_"+id+"_"+secret != s {
			t.Fatalf("parseKey(%q) = %q, %q: not the parts of the key", s, id, secret)
		}
		if len(s) > maxKeyLen || len(secret) != secretLen || !isLowerHex(secret) {
			t.Fatalf("parseKey(%q) accepted secret %q", s, secret)
		}
		if !domain.ValidID(id) {
			t.Fatalf("parseKey(%q) accepted id %q", s, id)
		}
	})
}

func TestKeyFromPlaintext(t *testing.T) {
	chosen := "pv_dev_" + strings.Repeat("ab", 32)
	k, err := KeyFromPlaintext(chosen, []string{"admin"}, nil, testNow)
	if err != nil {
		t.Fatalf("KeyFromPlaintext: %v", err)
	}
	ring := Keyring{Keys: []Key{k}}
	if p, err := ring.Authenticate(chosen); err != nil || p.KeyID != "dev" || !p.Has("read") {
		t.Errorf("a chosen key = %+v, %v; want it to authenticate as dev with admin", p, err)
	}
	if !ring.Has("dev") || ring.Has("other") {
		t.Errorf("Has(dev), Has(other) = %v, %v; want true, false", ring.Has("dev"), ring.Has("other"))
	}

	for _, bad := range []string{"pv_example_notasecret", "secret", "pv_dev_" + strings.Repeat("AB", 32)} {
		if _, err := KeyFromPlaintext(bad, []string{"admin"}, nil, testNow); err == nil {
			t.Errorf("KeyFromPlaintext(%q) accepted a malformed key", bad)
		} else if strings.Contains(err.Error(), bad) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
	if _, err := KeyFromPlaintext(chosen, []string{"root"}, nil, testNow); err == nil {
		t.Error("KeyFromPlaintext accepted an unknown scope")
	}
}
