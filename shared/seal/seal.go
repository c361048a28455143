// Package seal seals provider credentials at rest by envelope encryption.
//
// Two Sealers exist: KMS, which asks AWS KMS for a fresh AES-256 data key per seal and keeps the
// KMS-encrypted data key inside the sealed blob, and Local, which uses one 32-byte key file for local
// runs. Both encrypt with AES-256-GCM. A sealed blob starts with a version byte and a kind byte, so a
// blob sealed by one kind and opened by the other fails with ErrWrongKind instead of a puzzling
// authentication error. Every header byte is bound into the GCM additional data, so changing any byte
// of a blob makes Open fail with ErrTampered.
//
// Nothing in this package logs, and no error it returns contains plaintext or key material.
package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealer seals and opens small secrets such as provider credentials.
type Sealer interface {
	// Seal encrypts plaintext; the result is safe to store and is never equal for two calls.
	Seal(ctx context.Context, plaintext []byte) ([]byte, error)
	// Open returns the plaintext of a blob this kind of Sealer sealed with the same key.
	Open(ctx context.Context, sealed []byte) ([]byte, error)
}

// Errors Open returns, wrapped, so callers can tell them apart with errors.Is.
var (
	// ErrMalformed: the blob is not a sealed blob of a known version (truncated, or never sealed).
	ErrMalformed = errors.New("seal: malformed sealed blob")
	// ErrWrongKind: the blob was sealed by the other kind of Sealer (KMS versus local key file).
	ErrWrongKind = errors.New("seal: blob was sealed by another kind of sealer")
	// ErrWrongKey: the blob was sealed with another local key than the one opening it.
	ErrWrongKey = errors.New("seal: blob was sealed with another key")
	// ErrTampered: the blob failed authentication: it was changed after sealing, or the key is wrong.
	ErrTampered = errors.New("seal: sealed blob failed authentication")
)

// Kind says which Sealer sealed a blob.
type Kind byte

// The kinds of sealed blobs.
const (
	KindKMS   Kind = 'K'
	KindLocal Kind = 'L'
)

func (k Kind) String() string {
	switch k {
	case KindKMS:
		return "kms"
	case KindLocal:
		return "local key file"
	default:
		return fmt.Sprintf("unknown kind 0x%02x", byte(k))
	}
}

// version1 is the only blob layout so far:
//
//	version(1) kind(1) header-specific bytes... nonce(12) ciphertext+tag(16)
//
// where the header of KMS is len(2, big endian) encrypted-data-key(len), and the header of Local is
// the key's 8-byte fingerprint. The bytes before the nonce are GCM's additional data.
const version1 byte = 1

const (
	nonceSize = 12
	tagSize   = 16
	keySize   = 32
)

// KindOf reports which kind of Sealer sealed blob, without opening it.
func KindOf(blob []byte) (Kind, error) {
	if len(blob) < 2 {
		return 0, fmt.Errorf("%w: %d bytes", ErrMalformed, len(blob))
	}
	if blob[0] != version1 {
		return 0, fmt.Errorf("%w: unknown version %d", ErrMalformed, blob[0])
	}
	k := Kind(blob[1])
	if k != KindKMS && k != KindLocal {
		return 0, fmt.Errorf("%w: %s", ErrMalformed, k)
	}
	return k, nil
}

// expectKind checks blob's version and kind before any key work.
func expectKind(blob []byte, want Kind) error {
	k, err := KindOf(blob)
	if err != nil {
		return err
	}
	if k != want {
		return fmt.Errorf("%w: sealed by %s, opened by %s", ErrWrongKind, k, want)
	}
	return nil
}

// sealWith appends nonce and ciphertext to header, authenticating header as additional data.
func sealWith(key, header, plaintext []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(header), len(header)+nonceSize+len(plaintext)+tagSize)
	copy(out, header)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: reading a random nonce: %w", err)
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, header), nil
}

// openWith opens the nonce and ciphertext that follow header in blob.
func openWith(key, header, rest []byte) ([]byte, error) {
	if len(rest) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrMalformed)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, rest[:nonceSize], rest[nonceSize:], header)
	if err != nil {
		return nil, ErrTampered
	}
	return plaintext, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("seal: data key is %d bytes, want %d", len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: AES key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: GCM: %w", err)
	}
	return aead, nil
}
