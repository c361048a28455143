// Package awsapi makes the few AWS calls Switchyard needs — KMS GenerateDataKey and Decrypt, Secrets
// Manager GetSecretValue, Lambda's asynchronous Invoke — as plain signed HTTPS requests.
//
// It exists for cold starts: every aws-sdk-go-v2 service package linked into a binary builds its
// endpoint tables and schemas at package init, whether or not it is ever called, and the default
// configuration loader links STS, SSO, SSO OIDC and Sign-In besides. The functions called these on
// every cold start for calls most requests never make. Here a call is the AWS JSON protocol or a
// REST request, signed with the SDK's own Signature Version 4 signer (package aws/signer/v4, which
// has no tables), and retried on throttling, 5xx answers and network errors as the SDK's standard
// retryer does.
//
// Credentials and the region come from the environment, as Lambda provides them (package config reads
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION). Endpoints follow the
// SDK's variables: AWS_ENDPOINT_URL_<SERVICE> (KMS, SECRETS_MANAGER, LAMBDA), then AWS_ENDPOINT_URL,
// then the region's public endpoint (FIPS when AWS_USE_FIPS_ENDPOINT=true).
package awsapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Config is what every call needs.
type Config struct {
	// Region is the AWS region calls go to (eu-west-1).
	Region string
	// Credentials sign each request.
	Credentials aws.CredentialsProvider
	// Endpoints overrides endpoints: by service ("KMS", "SECRETS_MANAGER", "LAMBDA", the suffixes of
	// AWS_ENDPOINT_URL_<SERVICE>), and "" for every service (AWS_ENDPOINT_URL).
	Endpoints map[string]string
	// UseFIPS calls the region's FIPS endpoints (AWS_USE_FIPS_ENDPOINT=true).
	UseFIPS bool
	// HTTPClient sends the requests; nil means a client with a 30-second timeout.
	HTTPClient *http.Client
	// Now is the signing clock; nil means time.Now.
	Now func() time.Time
}

// StaticCredentials are fixed credentials (the environment's, in Lambda the role's); nil when id or
// secret is empty. Missing credentials are no error until a call: it fails saying what to set, so a
// run that never calls AWS needs none.
func StaticCredentials(id, secret, sessionToken string) aws.CredentialsProvider {
	if id == "" || secret == "" {
		return nil
	}
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: sessionToken, Source: "environment"}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
}

// Error is an AWS service's error answer.
type Error struct {
	Service   string // "kms", "secretsmanager", "lambda"
	Operation string // "Decrypt"
	Status    int    // HTTP status
	Code      string // the error's type, e.g. AccessDeniedException
	Message   string
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return fmt.Sprintf("%s %s: %s (HTTP %d)", e.Service, e.Operation, msg, e.Status)
}

// service is one AWS service's naming.
type service struct {
	signingName string // in the signature and the default host
	envName     string // the AWS_ENDPOINT_URL_<envName> override
}

var (
	kmsService     = service{signingName: "kms", envName: "KMS"}
	secretsService = service{signingName: "secretsmanager", envName: "SECRETS_MANAGER"}
	lambdaService  = service{signingName: "lambda", envName: "LAMBDA"}
)

// endpoint returns the base URL of svc, without a trailing slash.
func (c Config) endpoint(svc service) (string, error) {
	if u := cmp.Or(c.Endpoints[svc.envName], c.Endpoints[""]); u != "" {
		return strings.TrimRight(u, "/"), nil
	}
	if c.Region == "" {
		return "", errors.New("no AWS region: set AWS_REGION")
	}
	host := svc.signingName
	if c.UseFIPS {
		host += "-fips"
	}
	return "https://" + host + "." + c.Region + "." + dnsSuffix(c.Region), nil
}

// dnsSuffix is the domain of the region's partition.
func dnsSuffix(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		return "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "c2s.ic.gov"
	default:
		return "amazonaws.com"
	}
}

// maxAttempts is the SDK standard retryer's: one call and two retries.
const maxAttempts = 3

// do sends a request built by build (called again for each attempt), signed for svc, and returns the
// answer's status and body. Throttling, 5xx answers and network errors are retried with jittered
// exponential backoff; any other non-2xx answer is an *Error.
func (c Config) do(ctx context.Context, svc service, op string, build func(base string) (*http.Request, []byte, error)) (int, []byte, error) {
	if c.Credentials == nil {
		return 0, nil, fmt.Errorf("%s %s: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them)", svc.signingName, op)
	}
	base, err := c.endpoint(svc)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", svc.signingName, op, err)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	signer := v4.NewSigner()
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			// Full jitter over 50 ms, then 100 ms: short, since a cold request waits on it.
			d := time.Duration(rand.Int64N(int64(50*time.Millisecond) << (attempt - 1)))
			select {
			case <-ctx.Done():
				return 0, nil, fmt.Errorf("%s %s: %w (last error: %w)", svc.signingName, op, ctx.Err(), lastErr)
			case <-time.After(d):
			}
		}
		req, body, err := build(base)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", svc.signingName, op, err)
		}
		req = req.WithContext(ctx)
		creds, err := c.Credentials.Retrieve(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: AWS credentials: %w", svc.signingName, op, err)
		}
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), svc.signingName, c.Region, now()); err != nil {
			return 0, nil, fmt.Errorf("%s %s: signing: %w", svc.signingName, op, err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, fmt.Errorf("%s %s: %w", svc.signingName, op, err)
			}
			lastErr = fmt.Errorf("%s %s: %w", svc.signingName, op, err)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			lastErr = fmt.Errorf("%s %s: reading the answer: %w", svc.signingName, op, err)
			continue
		}
		if resp.StatusCode/100 == 2 {
			return resp.StatusCode, b, nil
		}
		e := parseError(svc.signingName, op, resp, b)
		if !retryable(e) {
			return resp.StatusCode, nil, e
		}
		lastErr = e
	}
	return 0, nil, lastErr
}

var defaultClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	},
}

// parseError reads an AWS error answer: the JSON protocols' {"__type": "ns#Code", "message": ...},
// REST JSON's X-Amzn-ErrorType header and {"Type"/"message"} body.
func parseError(svc, op string, resp *http.Response, body []byte) *Error {
	var v struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(body, &v)
	code := cmp.Or(resp.Header.Get("X-Amzn-ErrorType"), v.Type, v.Code)
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := cmp.Or(v.Message, v.MessageU)
	if msg == "" && len(body) > 0 && !json.Valid(body) {
		msg = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	return &Error{Service: svc, Operation: op, Status: resp.StatusCode, Code: code, Message: msg}
}

// retryable reports what the SDK's standard retryer retries: 5xx answers and throttling.
func retryable(e *Error) bool {
	if e.Status >= 500 || e.Status == http.StatusTooManyRequests {
		return true
	}
	switch e.Code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
		"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
		"SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", "RequestTimeout", "RequestTimeoutException":
		return true
	}
	return false
}

// jsonCall calls an AWS JSON 1.1 operation (KMS, Secrets Manager): target is the X-Amz-Target header,
// in is sent as the body and the answer decoded into out.
func (c Config) jsonCall(ctx context.Context, svc service, target string, in, out any) error {
	op := target[strings.LastIndexByte(target, '.')+1:]
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s %s: encoding the request: %w", svc.signingName, op, err)
	}
	_, b, err := c.do(ctx, svc, op, func(base string) (*http.Request, []byte, error) {
		req, err := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		return req, body, nil
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", svc.signingName, op, err)
	}
	return nil
}
