package seal

import (
	"container/list"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

// KMSClient is the part of AWS KMS that KMS uses; *awsapi.KMS satisfies it. (Not the SDK's client:
// its package's endpoint tables and schemas cost every cold start, see package awsapi.)
type KMSClient interface {
	// GenerateDataKey returns a new AES-256 data key under keyID, in plaintext and encrypted, bound
	// to encryptionContext.
	GenerateDataKey(ctx context.Context, keyID string, encryptionContext map[string]string) (plaintext, ciphertext []byte, err error)
	// Decrypt returns the plaintext of ciphertext, encrypted under keyID with encryptionContext.
	Decrypt(ctx context.Context, keyID string, ciphertext []byte, encryptionContext map[string]string) ([]byte, error)
}

// encryptionContext is the KMS encryption context of every data key KMS asks for. KMS binds it to the
// encrypted data key, so a data key made for something else cannot be used here, and key policies may
// require it (condition kms:EncryptionContext:purpose).
var encryptionContext = map[string]string{"purpose": "switchyard-provider-credential"}

// DefaultKeyCacheSize is how many plaintext data keys a KMS sealer keeps by default.
const DefaultKeyCacheSize = 512

// KMS seals with a fresh AES-256 data key from AWS KMS per seal (GenerateDataKey), and stores the
// KMS-encrypted data key in the blob. Open asks KMS to decrypt the data key (Decrypt) and keeps a
// bounded number of plaintext data keys in memory, keyed by their ciphertext, so reloading a catalogue
// snapshot does not call KMS once per provider every time. It is safe for concurrent use.
type KMS struct {
	client KMSClient
	keyID  string
	cache  *keyCache
}

var _ Sealer = (*KMS)(nil)

// NewKMS returns a KMS sealer for the key keyID (an id, ARN or alias/...) that caches up to
// cacheSize plaintext data keys (DefaultKeyCacheSize when cacheSize <= 0).
func NewKMS(client KMSClient, keyID string, cacheSize int) *KMS {
	if cacheSize <= 0 {
		cacheSize = DefaultKeyCacheSize
	}
	return &KMS{client: client, keyID: keyID, cache: newKeyCache(cacheSize)}
}

// Seal encrypts plaintext with a new data key.
func (k *KMS) Seal(ctx context.Context, plaintext []byte) ([]byte, error) {
	dataKey, encKey, err := k.client.GenerateDataKey(ctx, k.keyID, encryptionContext)
	if err != nil {
		return nil, fmt.Errorf("seal: KMS GenerateDataKey with key %s: %w", k.keyID, err)
	}
	if len(encKey) == 0 || len(encKey) > 0xffff {
		return nil, fmt.Errorf("seal: KMS returned an encrypted data key of %d bytes", len(encKey))
	}
	header := make([]byte, 4, 4+len(encKey))
	header[0], header[1] = version1, byte(KindKMS)
	binary.BigEndian.PutUint16(header[2:], uint16(len(encKey)))
	header = append(header, encKey...)
	sealed, err := sealWith(dataKey, header, plaintext)
	if err != nil {
		return nil, err
	}
	k.cache.put(string(encKey), dataKey)
	return sealed, nil
}

// Open decrypts a blob sealed by a KMS sealer whose key this one's credentials may use. A blob sealed
// by a local key file fails with ErrWrongKind, a changed one with ErrTampered (or with KMS's own
// error when the encrypted data key itself was changed).
func (k *KMS) Open(ctx context.Context, sealed []byte) ([]byte, error) {
	if err := expectKind(sealed, KindKMS); err != nil {
		return nil, err
	}
	if len(sealed) < 4 {
		return nil, fmt.Errorf("%w: header too short", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(sealed[2:4]))
	h := 4 + n
	if n == 0 || len(sealed) < h {
		return nil, fmt.Errorf("%w: encrypted data key truncated", ErrMalformed)
	}
	encKey := sealed[4:h]
	key, ok := k.cache.get(string(encKey))
	if !ok {
		var err error
		if key, err = k.client.Decrypt(ctx, k.keyID, encKey, encryptionContext); err != nil {
			return nil, fmt.Errorf("seal: KMS Decrypt of the data key with key %s: %w", k.keyID, err)
		}
		k.cache.put(string(encKey), key)
	}
	return openWith(key, sealed[:h], sealed[h:])
}

// keyCache is a small LRU of plaintext data keys by their KMS ciphertext.
type keyCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *cacheEntry
	byKey map[string]*list.Element
}

type cacheEntry struct {
	ciphertext string
	plaintext  []byte
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (c *keyCache) get(ciphertext string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[ciphertext]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).plaintext, true
}

func (c *keyCache) put(ciphertext string, plaintext []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[ciphertext]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[ciphertext] = c.order.PushFront(&cacheEntry{ciphertext: ciphertext, plaintext: append([]byte(nil), plaintext...)})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).ciphertext)
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
