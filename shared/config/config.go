// Package config is Switchyard's whole configuration: every environment variable the functions, the
// worker and `make dev` read is read here, by Load, and nowhere else. The rest of the code takes its
// settings from a Config. docs/deploy.md's "Environment variables" table lists exactly these variables
// (infra/deploy checks it).
//
// To add a setting: add its name to the constants, a field to Config (or one of its parts), one line
// in Load that reads and checks it, a row in docs/deploy.md's table, and a valid and a malformed case
// in TestLoad.
package config

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/basepath"
)

// The variables Load reads.
const (
	// EnvLambdaRuntimeAPI is set by a Lambda runtime (AWS, sam local, the Runtime Interface Emulator).
	EnvLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

	EnvDatabaseURL         = "DATABASE_URL"
	EnvDatabaseSecretARN   = "DATABASE_SECRET_ARN"
	EnvDatabaseIAM         = "DATABASE_IAM"
	EnvDatabaseHost        = "DATABASE_HOST"
	EnvDatabasePort        = "DATABASE_PORT"
	EnvDatabaseUser        = "DATABASE_USER"
	EnvDatabaseName        = "DATABASE_NAME"
	EnvDatabaseSSLMode     = "DATABASE_SSLMODE"
	EnvDatabaseSSLRootCert = "DATABASE_SSLROOTCERT"
	EnvDatabaseRDSProxy    = "DATABASE_RDS_PROXY"

	EnvLogLevel            = "SWITCHYARD_LOG_LEVEL"
	EnvAddr                = "SWITCHYARD_ADDR"
	EnvLocal               = "SWITCHYARD_LOCAL"
	EnvAllowLoopback       = "SWITCHYARD_ALLOW_LOOPBACK"
	EnvPublicBasePath      = "SWITCHYARD_PUBLIC_BASE_PATH"
	EnvSnapshotIntervalMS  = "SWITCHYARD_SNAPSHOT_INTERVAL_MS"
	EnvMaxRequestBytes     = "SWITCHYARD_MAX_REQUEST_BYTES"
	EnvCapacityLeaseMS     = "SWITCHYARD_CAPACITY_LEASE_MS"
	EnvFallbackAttempts    = "SWITCHYARD_FALLBACK_ATTEMPTS"
	EnvRequestDeadlineMS   = "SWITCHYARD_REQUEST_DEADLINE_MS"
	EnvCooldownFailures    = "SWITCHYARD_COOLDOWN_FAILURES"
	EnvCooldownWindowMS    = "SWITCHYARD_COOLDOWN_WINDOW_MS"
	EnvCooldownMS          = "SWITCHYARD_COOLDOWN_MS"
	EnvKMSKeyID            = "SWITCHYARD_KMS_KEY_ID"
	EnvSealKeyFile         = "SWITCHYARD_SEAL_KEY_FILE"
	EnvAdminTokenSecretARN = "SWITCHYARD_ADMIN_TOKEN_SECRET_ARN"
	EnvAdminToken          = "SWITCHYARD_ADMIN_TOKEN"
	EnvWorkerFunction      = "SWITCHYARD_WORKER_FUNCTION"

	EnvReembedBatch        = "SWITCHYARD_REEMBED_BATCH"
	EnvReembedShards       = "SWITCHYARD_REEMBED_SHARDS"
	EnvReembedWorkers      = "SWITCHYARD_REEMBED_WORKERS"
	EnvReembedRetention    = "SWITCHYARD_REEMBED_RETENTION"
	EnvReembedRescueAfter  = "SWITCHYARD_REEMBED_RESCUE_AFTER"
	EnvReembedBuildTimeout = "SWITCHYARD_REEMBED_BUILD_TIMEOUT"
	EnvReembedThreshold    = "SWITCHYARD_REEMBED_THRESHOLD"

	EnvAWSRegion                    = "AWS_REGION"
	EnvAWSDefaultRegion             = "AWS_DEFAULT_REGION"
	EnvAWSAccessKeyID               = "AWS_ACCESS_KEY_ID"
	EnvAWSAccessKey                 = "AWS_ACCESS_KEY"
	EnvAWSSecretAccessKey           = "AWS_SECRET_ACCESS_KEY"
	EnvAWSSecretKey                 = "AWS_SECRET_KEY"
	EnvAWSSessionToken              = "AWS_SESSION_TOKEN"
	EnvAWSEndpointURL               = "AWS_ENDPOINT_URL"
	EnvAWSEndpointURLKMS            = "AWS_ENDPOINT_URL_KMS"
	EnvAWSEndpointURLSecretsManager = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
	EnvAWSEndpointURLLambda         = "AWS_ENDPOINT_URL_LAMBDA"
	EnvAWSUseFIPSEndpoint           = "AWS_USE_FIPS_ENDPOINT"
)

// DefaultSealKeyFile is where local runs keep their sealing key when SWITCHYARD_SEAL_KEY_FILE is unset.
const DefaultSealKeyFile = "infra/dev/.local/seal.key"

// MaxReembedBatch is the largest SWITCHYARD_REEMBED_BATCH: OpenAI's limit of inputs per embeddings
// request.
const MaxReembedBatch = 2048

// Config is every setting, as Load read it. A zero number or duration means the variable was unset
// and the component's documented default applies.
type Config struct {
	// InLambda: the process runs under a Lambda runtime (AWS_LAMBDA_RUNTIME_API is set): the mains
	// serve through the runtime API and behave as in Lambda.
	InLambda bool
	// Addr is SWITCHYARD_ADDR, the listen address outside Lambda; "" means the binary's default.
	Addr string
	// LogLevel is SWITCHYARD_LOG_LEVEL (info when unset).
	LogLevel slog.Level
	// Local is SWITCHYARD_LOCAL: a local run (console cookies without Secure).
	Local bool
	// AllowLoopback is SWITCHYARD_ALLOW_LOOPBACK: providers may resolve to loopback addresses.
	// Unset, it is true outside Lambda and false in Lambda.
	AllowLoopback bool
	// PublicBasePath is SWITCHYARD_PUBLIC_BASE_PATH as given (checked with basepath.Clean): the path in
	// front of /console/ when the request cannot tell; "" when unset, "/" for none.
	PublicBasePath string
	// SnapshotInterval is SWITCHYARD_SNAPSHOT_INTERVAL_MS: how often the catalogue version is checked
	// (0: catalog's default, 300ms).
	SnapshotInterval time.Duration
	// MaxRequestBytes is SWITCHYARD_MAX_REQUEST_BYTES (0: the gateway's default, 8 MiB).
	MaxRequestBytes int64
	// CapacityLease is SWITCHYARD_CAPACITY_LEASE_MS: how long a concurrency slot stays held without
	// renewal, the longest a killed instance's slot stays taken (0: capacity's default, 30s).
	CapacityLease time.Duration
	// FallbackAttempts is SWITCHYARD_FALLBACK_ATTEMPTS: a developer request's upstream attempts across
	// its candidates (0: the gateway's default, 3); RequestDeadline is SWITCHYARD_REQUEST_DEADLINE_MS,
	// all of them together (0: 10 minutes).
	FallbackAttempts int
	RequestDeadline  time.Duration
	// CooldownFailures in CooldownWindow cool a model down for Cooldown (SWITCHYARD_COOLDOWN_FAILURES,
	// SWITCHYARD_COOLDOWN_WINDOW_MS, SWITCHYARD_COOLDOWN_MS; 0: 5 failures in 30 s, for 30 s).
	CooldownFailures int
	CooldownWindow   time.Duration
	Cooldown         time.Duration
	// KMSKeyID is SWITCHYARD_KMS_KEY_ID, the KMS key sealing provider credentials.
	KMSKeyID string
	// SealKeyFile is SWITCHYARD_SEAL_KEY_FILE, or DefaultSealKeyFile when unset.
	SealKeyFile string
	// AdminTokenSecretARN (SWITCHYARD_ADMIN_TOKEN_SECRET_ARN) and AdminToken (SWITCHYARD_ADMIN_TOKEN)
	// give the bootstrap super admin's token.
	AdminTokenSecretARN string
	AdminToken          string
	// WorkerFunction is SWITCHYARD_WORKER_FUNCTION, the worker function to kick; "" for none.
	WorkerFunction string

	Database Database
	Reembed  Reembed
	AWS      AWS
}

// Database is how to reach Postgres (package awsconf resolves it).
type Database struct {
	URL         string // DATABASE_URL, a postgres:// URL
	SecretARN   string // DATABASE_SECRET_ARN
	IAM         bool   // DATABASE_IAM
	Host        string // DATABASE_HOST
	Port        int    // DATABASE_PORT; 0 when unset
	User        string // DATABASE_USER
	Name        string // DATABASE_NAME
	SSLMode     string // DATABASE_SSLMODE; "" when unset (verify-full)
	SSLRootCert string // DATABASE_SSLROOTCERT
	RDSProxy    bool   // DATABASE_RDS_PROXY
}

// Reembed tunes the corpus and re-embed jobs (SWITCHYARD_REEMBED_*); zero values take package
// reembed's defaults.
type Reembed struct {
	Batch        int           // SWITCHYARD_REEMBED_BATCH (512)
	Shards       int           // SWITCHYARD_REEMBED_SHARDS (4)
	Workers      int           // SWITCHYARD_REEMBED_WORKERS (4)
	Retention    time.Duration // SWITCHYARD_REEMBED_RETENTION (24h)
	RescueAfter  time.Duration // SWITCHYARD_REEMBED_RESCUE_AFTER (2m)
	BuildTimeout time.Duration // SWITCHYARD_REEMBED_BUILD_TIMEOUT (15m)
	Threshold    float64       // SWITCHYARD_REEMBED_THRESHOLD (0.95)
}

// AWS is the region, credentials and endpoints the AWS calls use, named as the AWS SDKs name them.
type AWS struct {
	Region          string // AWS_REGION, else AWS_DEFAULT_REGION
	AccessKeyID     string // AWS_ACCESS_KEY_ID, else AWS_ACCESS_KEY
	SecretAccessKey string // AWS_SECRET_ACCESS_KEY, else AWS_SECRET_KEY
	SessionToken    string // AWS_SESSION_TOKEN
	// Endpoints overrides services' endpoints: keyed by the AWS_ENDPOINT_URL_<SERVICE> suffix ("KMS",
	// "SECRETS_MANAGER", "LAMBDA"), and "" for AWS_ENDPOINT_URL (every service).
	Endpoints       map[string]string
	UseFIPSEndpoint bool // AWS_USE_FIPS_ENDPOINT
}

// Problem is one malformed variable.
type Problem struct {
	Variable string
	// Value is the value as given; "" when it is a secret that must not be repeated.
	Value string
	Want  string // what is expected
}

func (p Problem) String() string {
	if p.Value == "" {
		return fmt.Sprintf("%s: want %s", p.Variable, p.Want)
	}
	return fmt.Sprintf("%s=%q: want %s", p.Variable, p.Value, p.Want)
}

// Error is every malformed variable Load found.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "configuration: " + lines[0]
	}
	return fmt.Sprintf("configuration: %d malformed variables: %s", len(lines), strings.Join(lines, "; "))
}

// Load reads the configuration through getenv (os.Getenv in the mains). It reads every variable each
// time, whatever the others say, and refuses every malformed value: the error is an *Error naming each
// variable, its value (never a secret's) and what is expected. Surrounding spaces are ignored, and an
// empty variable counts as unset.
func Load(getenv func(string) string) (Config, error) {
	r := &reader{getenv: getenv}
	c := Config{
		InLambda:            r.str(EnvLambdaRuntimeAPI) != "",
		Addr:                r.addr(EnvAddr),
		LogLevel:            r.logLevel(EnvLogLevel),
		Local:               r.boolean(EnvLocal, false),
		PublicBasePath:      r.basePath(EnvPublicBasePath),
		SnapshotInterval:    time.Duration(r.ranged(EnvSnapshotIntervalMS, 1, int64(math.MaxInt64/time.Millisecond), "a whole number of milliseconds above 0, e.g. 300")) * time.Millisecond,
		MaxRequestBytes:     r.positive(EnvMaxRequestBytes, "a whole number of bytes above 0, e.g. 8388608"),
		CapacityLease:       time.Duration(r.ranged(EnvCapacityLeaseMS, 1, int64(math.MaxInt64/time.Millisecond), "a whole number of milliseconds above 0, e.g. 30000")) * time.Millisecond,
		FallbackAttempts:    int(r.ranged(EnvFallbackAttempts, 1, 100, "a whole number of attempts from 1 to 100, e.g. 3")),
		RequestDeadline:     time.Duration(r.ranged(EnvRequestDeadlineMS, 1, int64(math.MaxInt64/time.Millisecond), "a whole number of milliseconds above 0, e.g. 600000")) * time.Millisecond,
		CooldownFailures:    int(r.ranged(EnvCooldownFailures, 1, 1_000_000, "a whole number of failures above 0, e.g. 5")),
		CooldownWindow:      time.Duration(r.ranged(EnvCooldownWindowMS, 1, int64(math.MaxInt64/time.Millisecond), "a whole number of milliseconds above 0, e.g. 30000")) * time.Millisecond,
		Cooldown:            time.Duration(r.ranged(EnvCooldownMS, 1, int64(math.MaxInt64/time.Millisecond), "a whole number of milliseconds above 0, e.g. 30000")) * time.Millisecond,
		KMSKeyID:            r.str(EnvKMSKeyID),
		SealKeyFile:         cmp.Or(r.str(EnvSealKeyFile), DefaultSealKeyFile),
		AdminTokenSecretARN: r.str(EnvAdminTokenSecretARN),
		AdminToken:          r.str(EnvAdminToken),
		WorkerFunction:      r.str(EnvWorkerFunction),
		Database: Database{
			URL:         r.url(EnvDatabaseURL, "a postgres:// URL", true, "postgres", "postgresql"),
			SecretARN:   r.str(EnvDatabaseSecretARN),
			IAM:         r.boolean(EnvDatabaseIAM, false),
			Host:        r.str(EnvDatabaseHost),
			Port:        int(r.ranged(EnvDatabasePort, 1, 65535, "a port number from 1 to 65535")),
			User:        r.str(EnvDatabaseUser),
			Name:        r.str(EnvDatabaseName),
			SSLMode:     r.oneOf(EnvDatabaseSSLMode, "disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
			SSLRootCert: r.str(EnvDatabaseSSLRootCert),
			RDSProxy:    r.boolean(EnvDatabaseRDSProxy, false),
		},
		Reembed: Reembed{
			Batch:        int(r.ranged(EnvReembedBatch, 1, MaxReembedBatch, fmt.Sprintf("a whole number from 1 to %d", MaxReembedBatch))),
			Shards:       int(r.positive(EnvReembedShards, "a whole number above 0")),
			Workers:      int(r.positive(EnvReembedWorkers, "a whole number above 0")),
			Retention:    r.duration(EnvReembedRetention),
			RescueAfter:  r.duration(EnvReembedRescueAfter),
			BuildTimeout: r.duration(EnvReembedBuildTimeout),
			Threshold:    r.fraction(EnvReembedThreshold),
		},
	}
	c.AllowLoopback = r.boolean(EnvAllowLoopback, !c.InLambda)
	c.AWS = AWS{
		Region:          cmp.Or(r.str(EnvAWSRegion), r.str(EnvAWSDefaultRegion)),
		AccessKeyID:     cmp.Or(r.str(EnvAWSAccessKeyID), r.str(EnvAWSAccessKey)),
		SecretAccessKey: cmp.Or(r.str(EnvAWSSecretAccessKey), r.str(EnvAWSSecretKey)),
		SessionToken:    r.str(EnvAWSSessionToken),
		Endpoints:       map[string]string{},
		UseFIPSEndpoint: r.trueOrFalse(EnvAWSUseFIPSEndpoint),
	}
	for _, e := range []struct{ service, name string }{{"", EnvAWSEndpointURL}, {"KMS", EnvAWSEndpointURLKMS},
		{"SECRETS_MANAGER", EnvAWSEndpointURLSecretsManager}, {"LAMBDA", EnvAWSEndpointURLLambda}} {
		if u := r.url(e.name, "an http:// or https:// URL, e.g. http://localhost:4566", false, "http", "https"); u != "" {
			c.AWS.Endpoints[e.service] = u
		}
	}
	if len(r.problems) > 0 {
		return c, &Error{Problems: r.problems}
	}
	return c, nil
}

// FromEnvironment is Load(os.Getenv): the process's configuration. The mains call it; nothing else
// reads the environment.
func FromEnvironment() (Config, error) {
	return Load(os.Getenv)
}

// reader reads variables and collects what is wrong with them.
type reader struct {
	getenv   func(string) string
	problems []Problem
}

func (r *reader) str(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) bad(name, value, want string) {
	r.problems = append(r.problems, Problem{Variable: name, Value: value, Want: want})
}

// boolean is strconv.ParseBool's true or false (1, t, TRUE, ...), or def when unset.
func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.bad(name, v, "true or false")
		return def
	}
	return b
}

// trueOrFalse is the AWS SDKs' boolean: "true" or "false" in any case; false when unset.
func (r *reader) trueOrFalse(name string) bool {
	switch v := r.str(name); {
	case v == "", strings.EqualFold(v, "false"):
		return false
	case strings.EqualFold(v, "true"):
		return true
	default:
		r.bad(name, v, "true or false")
		return false
	}
}

// ranged is a whole number from lo to hi; 0 when unset or malformed.
func (r *reader) ranged(name string, lo, hi int64, want string) int64 {
	v := r.str(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.bad(name, v, want)
		return 0
	}
	return n
}

// positive is a whole number above 0; 0 when unset or malformed.
func (r *reader) positive(name, want string) int64 {
	return r.ranged(name, 1, math.MaxInt64, want)
}

// duration is a Go duration above 0 ("90s", "24h"); 0 when unset or malformed.
func (r *reader) duration(name string) time.Duration {
	v := r.str(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.bad(name, v, `a Go duration above 0, e.g. "90s", "2m" or "24h"`)
		return 0
	}
	return d
}

// fraction is a number above 0 and at most 1; 0 when unset or malformed.
func (r *reader) fraction(name string) float64 {
	v := r.str(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0 && f <= 1) {
		r.bad(name, v, "a number above 0 and at most 1, e.g. 0.95")
		return 0
	}
	return f
}

func (r *reader) oneOf(name string, allowed ...string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.bad(name, v, "one of "+strings.Join(allowed, ", "))
	return ""
}

func (r *reader) logLevel(name string) slog.Level {
	v := r.str(name)
	var l slog.Level
	if v == "" {
		return slog.LevelInfo
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.bad(name, v, "debug, info, warn or error")
		return slog.LevelInfo
	}
	return l
}

func (r *reader) addr(name string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		r.bad(name, v, "host:port, e.g. 127.0.0.1:8080")
		return ""
	}
	return v
}

func (r *reader) basePath(name string) string {
	v := r.str(name)
	if _, err := basepath.Clean(v); err != nil {
		r.bad(name, v, `a path such as /prod, or / for none: "/"-separated segments of letters, digits and -._~`)
		return ""
	}
	return v
}

// url is a URL of one of schemes (an http one with a host; a postgres one may name a Unix socket
// instead); want says what is expected. A secret's malformed value is not quoted: a database URL may
// hold a password.
func (r *reader) url(name, want string, secret bool, schemes ...string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err != nil || !slices.Contains(schemes, u.Scheme) || (strings.HasPrefix(u.Scheme, "http") && u.Host == "") {
		if secret {
			r.bad(name, "", want+" (the value is not repeated: it may hold a password)")
		} else {
			r.bad(name, v, want)
		}
		return ""
	}
	return v
}
