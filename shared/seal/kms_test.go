package seal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// countingKMS counts the calls that reach KMS.
type countingKMS struct {
	KMSClient
	generates, decrypts atomic.Int64
}

func (c *countingKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	c.generates.Add(1)
	return c.KMSClient.GenerateDataKey(ctx, in, opts...)
}

func (c *countingKMS) Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	c.decrypts.Add(1)
	return c.KMSClient.Decrypt(ctx, in, opts...)
}

func TestKMSAgainstLocalKMS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts local-kms")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := startLocalKMS(t)
	keyA := createKey(ctx, t, client)
	keyB := createKey(ctx, t, client)

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

// startLocalKMS runs github.com/nsmithuk/local-kms (a go.mod tool) on a free port for this test.
func startLocalKMS(t *testing.T) *kms.Client {
	t.Helper()
	bin := toolPath(t, "local-kms")
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"PORT=0",
		"KMS_REGION=eu-west-2",
		"KMS_DATA_PATH="+filepath.Join(dir, "data"),
		"KMS_SEED_PATH="+filepath.Join(dir, "no-seed.yaml"),
	)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting local-kms: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	started := regexp.MustCompile(`Local KMS started on [0-9.]+:(\d+)`)
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := started.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
			}
		}
	}()
	select {
	case p := <-port:
		return kms.New(kms.Options{
			Region:       "eu-west-2",
			BaseEndpoint: aws.String("http://127.0.0.1:" + p),
			Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		})
	case <-time.After(30 * time.Second):
		t.Fatal("local-kms did not say which port it listens on within 30s")
		return nil
	}
}

func createKey(ctx context.Context, t *testing.T, client *kms.Client) string {
	t.Helper()
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("switchyard seal test")})
	if err != nil {
		t.Fatalf("local-kms CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// toolPath builds (or finds in the build cache) a tool declared in go.mod and returns its path.
func toolPath(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "tool", "-n", name).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go tool -n %s: %v\n%s", name, err, ee.Stderr)
		}
		t.Fatalf("go tool -n %s: %v", name, err)
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		t.Fatal(fmt.Errorf("tool %s at %s: %w", name, path, err))
	}
	return path
}
