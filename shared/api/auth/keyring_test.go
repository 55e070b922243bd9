package auth

import (
	"strings"
	"testing"
	"time"
)

func TestKeyringValidateRefusesBadEntries(t *testing.T) {
	_, good := mustGenerate(t, "good", []string{"read"}, nil)
	with := func(change func(*Key)) Key {
		k := good
		k.Scopes = append([]string(nil), good.Scopes...)
		change(&k)
		return k
	}
	tests := []struct {
		name    string
		keys    []Key
		wantErr string
	}{
		{"duplicate id", []Key{good, good}, "more than once"},
		{"invalid id", []Key{with(func(k *Key) { k.ID = "a/b" })}, "not valid"},
		{"short hash", []Key{with(func(k *Key) { k.Hash = k.Hash[1:] })}, "hash"},
		{"uppercase hash", []Key{with(func(k *Key) { k.Hash = strings.ToUpper(k.Hash) })}, "hash"},
		{"no hash", []Key{with(func(k *Key) { k.Hash = "" })}, "hash"},
		{"no scopes", []Key{with(func(k *Key) { k.Scopes = nil })}, "no scopes"},
		{"unknown scope", []Key{with(func(k *Key) { k.Scopes = []string{"superuser"} })}, `"superuser"`},
		{"bad asset pattern", []Key{with(func(k *Key) { k.Assets = []string{"v-*-1"} })}, `"v-*-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Keyring{Keys: tt.keys}.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if err := (Keyring{Keys: []Key{good}}).Validate(); err != nil {
		t.Errorf("a good keyring: %v", err)
	}
	if err := (Keyring{}).Validate(); err != nil {
		t.Errorf("an empty keyring: %v", err)
	}
}

func TestDecodeKeyringIsStrict(t *testing.T) {
	_, k := mustGenerate(t, "a", []string{"read"}, nil)
	ring := Keyring{Keys: []Key{k}}
	if err := ring.Revoke("a", testNow); err != nil {
		t.Fatal(err)
	}
	good, err := ring.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyring(good); err != nil {
		t.Fatalf("decode of an encoded keyring: %v", err)
	}
	tests := map[string]string{
		// Read leniently, this would bring a revoked key back to life.
		"misspelt field": strings.Replace(string(good), `"disabled": true`, `"disabeld": true`, 1),
		"trailing data":  string(good) + `{"keys":[]}`,
		"not JSON":       "password123",
		"empty":          "",
		"invalid key":    strings.Replace(string(good), `"read"`, `"write"`, 1),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if r, err := ParseKeyring([]byte(data)); err == nil {
				t.Errorf("decodeKeyring accepted %q as %+v", data, r)
			}
		})
	}
}

func TestEncodeWritesAnEmptyListNotNull(t *testing.T) {
	b, err := Keyring{}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"keys": []`) {
		t.Errorf("empty keyring = %s, want \"keys\": []", b)
	}
}

func TestAddRefusesATakenID(t *testing.T) {
	_, first := mustGenerate(t, "ops", []string{"read"}, nil)
	_, second := mustGenerate(t, "ops", []string{"admin"}, nil)
	var ring Keyring
	if err := ring.Add(first); err != nil {
		t.Fatal(err)
	}
	if err := ring.Add(second); err == nil {
		t.Fatal("a second key with the same id was added")
	}
	if len(ring.Keys) != 1 || ring.Keys[0].Hash != first.Hash {
		t.Errorf("keyring changed by a refused Add: %+v", ring.Keys)
	}
	if err := ring.Add(Key{ID: "bad"}); err == nil {
		t.Error("an invalid key was added")
	}
}

func TestRevoke(t *testing.T) {
	plaintext, k := mustGenerate(t, "ops", []string{"read"}, nil)
	ring := Keyring{Keys: []Key{k}}
	at := testNow.Add(time.Hour)

	if err := ring.Revoke("ops", at); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	got := ring.Keys[0]
	if !got.Disabled || got.DisabledAt == nil || !got.DisabledAt.Equal(at) {
		t.Errorf("revoked key = disabled %v at %v, want true at %v", got.Disabled, got.DisabledAt, at)
	}
	if _, err := ring.Authenticate(plaintext); err != ErrInvalidKey {
		t.Errorf("revoked key authenticates: %v", err)
	}

	if err := ring.Revoke("ops", at.Add(time.Hour)); err != nil {
		t.Errorf("revoking again: %v", err)
	}
	if !ring.Keys[0].DisabledAt.Equal(at) {
		t.Errorf("revoking again moved the revocation time to %v", ring.Keys[0].DisabledAt)
	}

	if err := ring.Revoke("nobody", at); err == nil || !strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("Revoke(unknown id) = %v, want an error naming it", err)
	}
}
