package seal

import (
	"container/list"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMSClient is the part of the AWS KMS client that KMS uses; *kms.Client satisfies it.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
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
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(k.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encryptionContext,
	})
	if err != nil {
		return nil, fmt.Errorf("seal: KMS GenerateDataKey with key %s: %w", k.keyID, err)
	}
	if len(out.CiphertextBlob) == 0 || len(out.CiphertextBlob) > 0xffff {
		return nil, fmt.Errorf("seal: KMS returned an encrypted data key of %d bytes", len(out.CiphertextBlob))
	}
	header := make([]byte, 4, 4+len(out.CiphertextBlob))
	header[0], header[1] = version1, byte(KindKMS)
	binary.BigEndian.PutUint16(header[2:], uint16(len(out.CiphertextBlob)))
	header = append(header, out.CiphertextBlob...)
	sealed, err := sealWith(out.Plaintext, header, plaintext)
	if err != nil {
		return nil, err
	}
	k.cache.put(string(out.CiphertextBlob), out.Plaintext)
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
		out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
			CiphertextBlob:    encKey,
			KeyId:             aws.String(k.keyID),
			EncryptionContext: encryptionContext,
		})
		if err != nil {
			return nil, fmt.Errorf("seal: KMS Decrypt of the data key with key %s: %w", k.keyID, err)
		}
		key = out.Plaintext
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
