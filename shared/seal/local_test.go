package seal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLocalKeyFileIsCreatedPrivateAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "seal.key")
	first, err := LocalFromFile(path)
	if err != nil {
		t.Fatalf("LocalFromFile on a missing file: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	if info.Size() != 32 {
		t.Errorf("key file holds %d bytes, want 32", info.Size())
	}
	sealed, err := first.Seal(context.Background(), []byte("sk-upstream-secret"))
	if err != nil {
		t.Fatal(err)
	}
	// A second process (a restart) opens what the first sealed.
	second, err := LocalFromFile(path)
	if err != nil {
		t.Fatalf("LocalFromFile on the existing file: %v", err)
	}
	got, err := second.Open(context.Background(), sealed)
	if err != nil {
		t.Fatalf("Open after reload: %v", err)
	}
	if string(got) != "sk-upstream-secret" {
		t.Errorf("Open = %q", got)
	}
}

func TestLocalKeyFileRefusals(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
	}{
		{"world readable", bytes.Repeat([]byte{1}, 32), 0o644},
		{"short key", []byte("too short"), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seal.key")
			if err := os.WriteFile(path, tt.content, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			if _, err := LocalFromFile(path); err == nil {
				t.Fatalf("LocalFromFile accepted a key file that is %s", tt.name)
			}
		})
	}
}

func TestLocalSealOpen(t *testing.T) {
	ctx := context.Background()
	a := newLocal(bytes.Repeat([]byte{0xA}, 32))
	b := newLocal(bytes.Repeat([]byte{0xB}, 32))
	secret := []byte("Bearer sk-live-1234")

	sealed, err := a.Seal(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed blob contains the plaintext")
	}
	again, _ := a.Seal(ctx, secret)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of the same plaintext are equal; nonces are not fresh")
	}

	flipped := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name    string
		opener  Sealer
		blob    []byte
		wantErr error
	}{
		{"round trip", a, sealed, nil},
		{"empty plaintext round trip", a, mustSeal(t, a, nil), nil},
		{"wrong key", b, sealed, ErrWrongKey},
		{"tampered ciphertext", a, flipped(len(sealed) - 20), ErrTampered},
		{"tampered tag", a, flipped(len(sealed) - 1), ErrTampered},
		{"tampered nonce", a, flipped(2 + 8), ErrTampered},
		{"tampered fingerprint", a, flipped(3), ErrWrongKey},
		{"truncated", a, sealed[:12], ErrMalformed},
		{"not sealed at all", a, []byte("plaintext credential"), ErrMalformed},
		{"unknown version", a, append([]byte{9}, sealed[1:]...), ErrMalformed},
		{"sealed by KMS", a, append([]byte{version1, byte(KindKMS)}, sealed[2:]...), ErrWrongKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(ctx, tt.blob)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("Open returned plaintext %q along with an error", got)
				}
				if err != nil && bytes.Contains([]byte(err.Error()), secret) {
					t.Errorf("error message contains the plaintext: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tt.name == "round trip" && !bytes.Equal(got, secret) {
				t.Errorf("Open = %q, want %q", got, secret)
			}
		})
	}
}

func mustSeal(t *testing.T, s Sealer, plaintext []byte) []byte {
	t.Helper()
	b, err := s.Seal(context.Background(), plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
