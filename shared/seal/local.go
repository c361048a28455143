package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Local seals with one 32-byte AES key held in a file, for local runs. It is safe for concurrent use.
type Local struct {
	key         []byte
	fingerprint []byte // first 8 bytes of SHA-256(key): tells a wrong key from a tampered blob
}

var _ Sealer = (*Local)(nil)

// LocalFromFile reads the 32-byte key in path, creating the file (and its folder) with a fresh random
// key and mode 0600 when it does not exist. It refuses a key file that group or others can read or
// write, and one that does not hold exactly 32 bytes.
func LocalFromFile(path string) (*Local, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s has mode %v: others may read it; run chmod 600 %s", path, perm, path)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("seal: key file %s holds %d bytes, want %d", path, len(key), keySize)
	}
	return newLocal(key), nil
}

// createKeyFile writes a fresh key with O_EXCL, so two processes starting at once agree on one key:
// the loser of the race reads the winner's file.
func createKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("seal: creating the key file's folder: %w", err)
	}
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal: generating a key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		existing, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("seal: reading key file %s: %w", path, err)
		}
		return existing, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seal: creating key file %s: %w", path, err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("seal: writing key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("seal: writing key file %s: %w", path, err)
	}
	return key, nil
}

func newLocal(key []byte) *Local {
	sum := sha256.Sum256(key)
	return &Local{key: bytes.Clone(key), fingerprint: sum[:8]}
}

// Seal encrypts plaintext with the local key.
func (l *Local) Seal(_ context.Context, plaintext []byte) ([]byte, error) {
	header := make([]byte, 0, 2+len(l.fingerprint))
	header = append(header, version1, byte(KindLocal))
	header = append(header, l.fingerprint...)
	return sealWith(l.key, header, plaintext)
}

// Open decrypts a blob Seal made with the same key. A blob sealed with another key file fails with
// ErrWrongKey, one sealed by KMS with ErrWrongKind, and a changed one with ErrTampered.
func (l *Local) Open(_ context.Context, sealed []byte) ([]byte, error) {
	if err := expectKind(sealed, KindLocal); err != nil {
		return nil, err
	}
	h := 2 + len(l.fingerprint)
	if len(sealed) < h {
		return nil, fmt.Errorf("%w: header too short", ErrMalformed)
	}
	if !bytes.Equal(sealed[2:h], l.fingerprint) {
		return nil, fmt.Errorf("%w: the blob's key fingerprint %x is not this key file's %x", ErrWrongKey, sealed[2:h], l.fingerprint)
	}
	return openWith(l.key, sealed[:h], sealed[h:])
}
