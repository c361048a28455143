package seal

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/seal/sealtest"
)

// countingKMS counts the calls that reach KMS.
type countingKMS struct {
	KMSClient
	generates, decrypts atomic.Int64
}

func (c *countingKMS) GenerateDataKey(ctx context.Context, keyID string, encryptionContext map[string]string) ([]byte, []byte, error) {
	c.generates.Add(1)
	return c.KMSClient.GenerateDataKey(ctx, keyID, encryptionContext)
}

func (c *countingKMS) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encryptionContext map[string]string) ([]byte, error) {
	c.decrypts.Add(1)
	return c.KMSClient.Decrypt(ctx, keyID, ciphertext, encryptionContext)
}

func TestKMSAgainstLocalKMS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts local-kms")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	local := sealtest.Start(t)
	client := local.Client
	keyA := local.CreateKey(ctx, t)
	keyB := local.CreateKey(ctx, t)

	counting := &countingKMS{KMSClient: client}
	sealer := NewKMS(counting, keyA, 0)
	secret := []byte("x-api-key: acme-9f8e7d")

	sealed, err := sealer.Seal(ctx, secret)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed blob contains the plaintext")
	}
	if k, _ := KindOf(sealed); k != KindKMS {
		t.Errorf("KindOf = %v, want kms", k)
	}

	t.Run("round trip in a fresh process calls KMS Decrypt once, then the cache", func(t *testing.T) {
		fresh := &countingKMS{KMSClient: client}
		opener := NewKMS(fresh, keyA, 0)
		for i := range 3 {
			got, err := opener.Open(ctx, sealed)
			if err != nil {
				t.Fatalf("Open #%d: %v", i, err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("Open = %q, want %q", got, secret)
			}
		}
		if n := fresh.decrypts.Load(); n != 1 {
			t.Errorf("KMS Decrypt called %d times for 3 opens, want 1", n)
		}
	})

	t.Run("each seal uses a fresh data key", func(t *testing.T) {
		other, err := sealer.Seal(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(dataKeyOf(sealed), dataKeyOf(other)) {
			t.Error("two seals share an encrypted data key")
		}
		if n := counting.generates.Load(); n != 2 {
			t.Errorf("GenerateDataKey called %d times for 2 seals, want 2", n)
		}
	})

	t.Run("tampered ciphertext", func(t *testing.T) {
		c := bytes.Clone(sealed)
		c[len(c)-5] ^= 0x40
		if _, err := NewKMS(client, keyA, 0).Open(ctx, c); !errors.Is(err, ErrTampered) {
			t.Fatalf("Open error = %v, want ErrTampered", err)
		}
	})

	t.Run("tampered encrypted data key", func(t *testing.T) {
		c := bytes.Clone(sealed)
		c[10] ^= 0x40
		_, err := NewKMS(client, keyA, 0).Open(ctx, c)
		if err == nil {
			t.Fatal("Open accepted a blob whose encrypted data key was changed")
		}
		// Either KMS refuses the changed data key, or the key it returns fails GCM's check of the header.
		if !errors.Is(err, ErrTampered) && !strings.Contains(err.Error(), "KMS Decrypt") {
			t.Errorf("error says neither that KMS refused the data key nor that the blob was tampered: %v", err)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		_, err := NewKMS(client, keyB, 0).Open(ctx, sealed)
		if err == nil {
			t.Fatal("a sealer for another KMS key opened the blob")
		}
		t.Logf("wrong key error: %v", err)
	})

	t.Run("sealed by a local key file", func(t *testing.T) {
		local := newLocal(bytes.Repeat([]byte{7}, 32))
		blob := mustSeal(t, local, secret)
		if _, err := sealer.Open(ctx, blob); !errors.Is(err, ErrWrongKind) {
			t.Fatalf("KMS.Open(local blob) error = %v, want ErrWrongKind", err)
		}
		if _, err := local.Open(ctx, sealed); !errors.Is(err, ErrWrongKind) {
			t.Fatalf("Local.Open(kms blob) error = %v, want ErrWrongKind", err)
		}
	})
}

func TestKeyCacheIsBounded(t *testing.T) {
	c := newKeyCache(2)
	c.put("a", []byte{1})
	c.put("b", []byte{2})
	c.get("a") // a is now the most recently used
	c.put("c", []byte{3})
	if c.len() != 2 {
		t.Fatalf("cache holds %d keys, want 2", c.len())
	}
	if _, ok := c.get("b"); ok {
		t.Error("least recently used key b survived eviction")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("key %s was evicted", k)
		}
	}
}

func dataKeyOf(blob []byte) []byte {
	n := int(blob[2])<<8 | int(blob[3])
	return blob[4 : 4+n]
}
