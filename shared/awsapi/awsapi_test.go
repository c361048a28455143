package awsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server answers with answer and records what reached it.
type server struct {
	*httptest.Server
	calls atomic.Int32
	last  atomic.Pointer[http.Request]
	body  atomic.Pointer[[]byte]
}

func newServer(t *testing.T, answer func(n int32, w http.ResponseWriter, r *http.Request)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.last.Store(r)
		s.body.Store(&b)
		answer(s.calls.Add(1), w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) config(service string) Config {
	return Config{Region: "eu-west-2", Credentials: StaticCredentials("AKIDEXAMPLE", "secret", "session"),
		Endpoints: map[string]string{service: s.URL}}
}

// A KMS call is a signed AWS JSON 1.1 request: the target header, the credentials' scope, the
// session token, and the blobs in base64 both ways.
func TestKMSDecryptIsASignedJSONCall(t *testing.T) {
	s := newServer(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"Plaintext":"`+base64.StdEncoding.EncodeToString([]byte("data key"))+`","KeyId":"k"}`)
	})
	k := &KMS{Config: s.config("KMS")}
	got, err := k.Decrypt(context.Background(), "alias/k", []byte{1, 2, 3}, map[string]string{"purpose": "p"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "data key" {
		t.Errorf("plaintext %q", got)
	}
	r := s.last.Load()
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != "TrentService.Decrypt" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Errorf("request %s %s target %q type %q", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"))
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-2/kms/aws4_request") ||
		!strings.Contains(auth, "x-amz-target") {
		t.Errorf("Authorization %q: want a SigV4 signature for kms in eu-west-2 covering X-Amz-Target", auth)
	}
	if r.Header.Get("X-Amz-Security-Token") != "session" {
		t.Errorf("X-Amz-Security-Token %q", r.Header.Get("X-Amz-Security-Token"))
	}
	var in map[string]any
	if err := json.Unmarshal(*s.body.Load(), &in); err != nil {
		t.Fatal(err)
	}
	if in["CiphertextBlob"] != "AQID" || in["KeyId"] != "alias/k" || in["EncryptionContext"].(map[string]any)["purpose"] != "p" {
		t.Errorf("body %s", *s.body.Load())
	}
}

// Throttling and 5xx answers are retried; an access error is not, and says what AWS said.
func TestRetriesAndErrors(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		s := newServer(t, func(n int32, w http.ResponseWriter, _ *http.Request) {
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, `{"SecretString":"s3cret"}`)
		})
		v, err := (&SecretsManager{Config: s.config("SECRETS_MANAGER")}).GetSecretValue(context.Background(), "db")
		if err != nil || v != "s3cret" || s.calls.Load() != 3 {
			t.Fatalf("GetSecretValue = %q, %v after %d calls; want the secret on the third", v, err, s.calls.Load())
		}
		if got := s.last.Load().Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
			t.Errorf("target %q", got)
		}
	})
	t.Run("throttled every time", func(t *testing.T) {
		e, calls, err := decryptRefused(t, `{"__type":"com.amazonaws.kms#ThrottlingException","message":"Rate exceeded"}`)
		if e == nil || e.Code != "ThrottlingException" || calls != maxAttempts {
			t.Fatalf("err %v after %d calls; want ThrottlingException after %d", err, calls, maxAttempts)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		e, calls, err := decryptRefused(t, `{"__type":"AccessDeniedException","Message":"not allowed to kms:Decrypt"}`)
		if e == nil || e.Code != "AccessDeniedException" || e.Status != 400 || calls != 1 {
			t.Fatalf("err %v after %d calls; want one AccessDeniedException", err, calls)
		}
		if !strings.Contains(err.Error(), "kms Decrypt: AccessDeniedException: not allowed to kms:Decrypt") {
			t.Errorf("message %q", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		c := Config{Region: "eu-west-1", Credentials: StaticCredentials("", "secret", "")}
		_, err := (&KMS{Config: c}).Decrypt(context.Background(), "k", []byte{1}, nil)
		if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Fatalf("err %v; want it to say which variables to set", err)
		}
	})
}

// decryptRefused calls KMS Decrypt against a server that answers every call 400 with body: the
// *Error in what Decrypt returned (nil when there is none), how many calls reached the server, and
// the error itself.
func decryptRefused(t *testing.T, body string) (*Error, int32, error) {
	s := newServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body)
	})
	_, err := (&KMS{Config: s.config("KMS")}).Decrypt(context.Background(), "k", []byte{1}, nil)
	var e *Error
	errors.As(err, &e)
	return e, s.calls.Load(), err
}

// The worker's kick is an asynchronous invoke, the function's name or ARN escaped in the path.
func TestLambdaInvokeEvent(t *testing.T) {
	s := newServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	arn := "arn:aws:lambda:eu-west-2:111122223333:function:worker"
	status, err := (&Lambda{Config: s.config("LAMBDA")}).InvokeEvent(context.Background(), arn, []byte(`{"source":"k"}`))
	if err != nil || status != 202 {
		t.Fatalf("InvokeEvent = %d, %v", status, err)
	}
	r := s.last.Load()
	if r.URL.EscapedPath() != "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-2%3A111122223333%3Afunction%3Aworker/invocations" {
		t.Errorf("path %s", r.URL.EscapedPath())
	}
	if r.Header.Get("X-Amz-Invocation-Type") != "Event" || string(*s.body.Load()) != `{"source":"k"}` {
		t.Errorf("invocation type %q, body %s", r.Header.Get("X-Amz-Invocation-Type"), *s.body.Load())
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/eu-west-2/lambda/aws4_request") {
		t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		c    Config
		svc  service
		want string
	}{
		{Config{Region: "eu-west-1"}, kmsService, "https://kms.eu-west-1.amazonaws.com"},
		{Config{Region: "cn-north-1"}, secretsService, "https://secretsmanager.cn-north-1.amazonaws.com.cn"},
		{Config{Region: "us-east-1", UseFIPS: true}, lambdaService, "https://lambda-fips.us-east-1.amazonaws.com"},
		{Config{Region: "us-east-1", Endpoints: map[string]string{"": "http://localhost:4566/"}}, kmsService, "http://localhost:4566"},
		{Config{Region: "us-east-1", Endpoints: map[string]string{"": "http://a", "SECRETS_MANAGER": "http://b"}}, secretsService, "http://b"},
	}
	for _, tt := range tests {
		got, err := tt.c.endpoint(tt.svc)
		if err != nil || got != tt.want {
			t.Errorf("%+v %s: %q, %v; want %q", tt.c, tt.svc.signingName, got, err, tt.want)
		}
	}
	if _, err := (Config{}).endpoint(kmsService); err == nil {
		t.Error("an endpoint without a region")
	}
}

// A cancelled context stops the retries at once.
func TestContextEndsRetries(t *testing.T) {
	s := newServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := (&KMS{Config: s.config("KMS")}).Decrypt(ctx, "k", []byte{1}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v; want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}
