package awsapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// KMS calls AWS KMS. It satisfies seal.KMSClient.
type KMS struct{ Config Config }

// GenerateDataKey asks KMS for a new AES-256 data key under keyID bound to encryptionContext, and
// returns it in plaintext and encrypted.
func (k *KMS) GenerateDataKey(ctx context.Context, keyID string, encryptionContext map[string]string) (plaintext, ciphertext []byte, err error) {
	in := struct {
		KeyId             string
		KeySpec           string
		EncryptionContext map[string]string `json:",omitempty"`
	}{keyID, "AES_256", encryptionContext}
	var out struct{ Plaintext, CiphertextBlob []byte }
	if err := k.Config.jsonCall(ctx, kmsService, "TrentService.GenerateDataKey", in, &out); err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Decrypt asks KMS to decrypt ciphertext, encrypted under keyID with encryptionContext.
func (k *KMS) Decrypt(ctx context.Context, keyID string, ciphertext []byte, encryptionContext map[string]string) ([]byte, error) {
	in := struct {
		CiphertextBlob    []byte
		KeyId             string            `json:",omitempty"`
		EncryptionContext map[string]string `json:",omitempty"`
	}{ciphertext, keyID, encryptionContext}
	var out struct{ Plaintext []byte }
	if err := k.Config.jsonCall(ctx, kmsService, "TrentService.Decrypt", in, &out); err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// CreateKey creates a symmetric encryption key and returns its ARN (tests, against local-kms).
func (k *KMS) CreateKey(ctx context.Context, description string) (string, error) {
	in := struct{ Description string }{description}
	var out struct{ KeyMetadata struct{ Arn string } }
	if err := k.Config.jsonCall(ctx, kmsService, "TrentService.CreateKey", in, &out); err != nil {
		return "", err
	}
	return out.KeyMetadata.Arn, nil
}

// SecretsManager calls AWS Secrets Manager.
type SecretsManager struct{ Config Config }

// GetSecretValue returns the current string value of the secret id (a name or an ARN). A secret that
// holds binary data instead is an error.
func (s *SecretsManager) GetSecretValue(ctx context.Context, id string) (string, error) {
	in := struct{ SecretId string }{id}
	var out struct {
		SecretString *string
		SecretBinary []byte
	}
	if err := s.Config.jsonCall(ctx, secretsService, "secretsmanager.GetSecretValue", in, &out); err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("secretsmanager GetSecretValue: the secret holds binary data, not a string")
	}
	return *out.SecretString, nil
}

// Lambda calls AWS Lambda. It satisfies workerlambda.Invoker.
type Lambda struct{ Config Config }

// InvokeEvent invokes function (a name or an ARN) asynchronously with payload and returns Lambda's
// status: 202 when it queued the event.
func (l *Lambda) InvokeEvent(ctx context.Context, function string, payload []byte) (int, error) {
	status, _, err := l.Config.do(ctx, lambdaService, "Invoke", func(base string) (*http.Request, []byte, error) {
		req, err := http.NewRequest(http.MethodPost, base+"/2015-03-31/functions/"+escapeSegment(function)+"/invocations", bytes.NewReader(payload))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Invocation-Type", "Event")
		return req, payload, nil
	})
	return status, err
}

// escapeSegment percent-encodes all but RFC 3986's unreserved characters, as the SDK does for path
// labels (an ARN's colons included).
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
