// Package awsconf reads the deployment's configuration from the environment, in Lambda and locally:
// the database connection (a URL, a Secrets Manager secret, or RDS IAM authentication), the credential
// sealer (KMS or a local key file), the bootstrap admin token, and the SSRF loopback switch.
//
// The names of the variables are the constants below; template.yaml sets them and docs/deploy.md lists
// them. Nothing here talks to AWS until a function that needs a secret is called, and creating the
// clients (NewClients) reads only the environment, so a cold start stays cheap. The clients are
// package awsapi's signed calls, not aws-sdk-go-v2's service packages, whose package init alone
// (endpoint tables, schemas) cost every cold start.
package awsconf

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/switchyard-ai/switchyard/shared/awsapi"
	"github.com/switchyard-ai/switchyard/shared/seal"
)

// Environment variables the functions read.
const (
	// EnvDatabaseURL is a complete Postgres URL, used as is (local runs, or a URL with its password).
	EnvDatabaseURL = "DATABASE_URL"
	// EnvDatabaseSecretARN names a Secrets Manager secret holding RDS's standard JSON
	// (username, password, host, port, dbname).
	EnvDatabaseSecretARN = "DATABASE_SECRET_ARN"
	// EnvDatabaseIAM, "true", authenticates with RDS IAM tokens instead of a password.
	EnvDatabaseIAM = "DATABASE_IAM"
	// EnvDatabaseHost overrides the secret's host (an RDS Proxy endpoint), or is the host for IAM auth.
	EnvDatabaseHost = "DATABASE_HOST"
	// EnvDatabasePort is the port for IAM auth, or overrides the secret's (default 5432).
	EnvDatabasePort = "DATABASE_PORT"
	// EnvDatabaseUser is the database user for IAM auth.
	EnvDatabaseUser = "DATABASE_USER"
	// EnvDatabaseName is the database name for IAM auth, or overrides the secret's (default postgres).
	EnvDatabaseName = "DATABASE_NAME"
	// EnvDatabaseSSLMode is libpq's sslmode for secret and IAM connections (default verify-full).
	EnvDatabaseSSLMode = "DATABASE_SSLMODE"
	// EnvDatabaseSSLRootCert is the path of the CA bundle that verifies the server's certificate
	// (the RDS global bundle) for secret and IAM connections; unset, the system's roots are used.
	EnvDatabaseSSLRootCert = "DATABASE_SSLROOTCERT"
	// EnvDatabaseRDSProxy, "true", says connections go through RDS Proxy: pgx then avoids named
	// prepared statements (default_query_exec_mode=exec, see QueryExecModeRDSProxy).
	EnvDatabaseRDSProxy = "DATABASE_RDS_PROXY"

	// EnvKMSKeyID is the KMS key (id, ARN or alias/...) that seals provider credentials. Required in
	// Lambda.
	EnvKMSKeyID = "SWITCHYARD_KMS_KEY_ID"
	// EnvSealKeyFile is the local key file that seals credentials when no KMS key is set (local runs
	// only; default DefaultSealKeyFile).
	EnvSealKeyFile = "SWITCHYARD_SEAL_KEY_FILE"
	// EnvAdminTokenSecretARN names a Secrets Manager secret holding the bootstrap super admin's token
	// (the secret string itself, or JSON {"token": "..."}).
	EnvAdminTokenSecretARN = "SWITCHYARD_ADMIN_TOKEN_SECRET_ARN"
	// EnvAdminToken is the bootstrap super admin's token given directly (local runs).
	EnvAdminToken = "SWITCHYARD_ADMIN_TOKEN"
	// EnvAllowLoopback, "true" or "false", says whether providers may resolve to loopback addresses.
	// Default: allowed in local runs, refused in Lambda.
	EnvAllowLoopback = "SWITCHYARD_ALLOW_LOOPBACK"
	// EnvWorkerFunction is the worker function's name, which the admin function invokes to start a
	// re-embed at once. Empty: no kick (the schedule, or an in-process worker, picks the job up).
	EnvWorkerFunction = "SWITCHYARD_WORKER_FUNCTION"
	// EnvLogLevel is slog's level: debug, info (default), warn or error.
	EnvLogLevel = "SWITCHYARD_LOG_LEVEL"
)

// DefaultSealKeyFile is where local runs keep their sealing key when EnvSealKeyFile is unset.
const DefaultSealKeyFile = "infra/dev/.local/seal.key"

// QueryExecModeRDSProxy is the pgx default_query_exec_mode to use behind RDS Proxy. pgx's default
// (cache_statement) prepares named statements per connection; RDS Proxy multiplexes client connections
// onto database connections and pins any session that prepares one, which defeats the proxy. "exec"
// sends each query with the extended protocol and an unnamed statement, with parameter types taken
// from the Go values, so nothing session-bound is left behind.
const QueryExecModeRDSProxy = "exec"

// SecretsClient is the part of the Secrets Manager client this package uses (awsapi.SecretsManager):
// the current string value of a secret, by name or ARN.
type SecretsClient interface {
	GetSecretValue(ctx context.Context, id string) (string, error)
}

// Clients are the AWS pieces the configuration may need. Zero fields are fine for a local run that
// names no secret and no KMS key.
type Clients struct {
	// Config has the region and credentials (RDS IAM tokens are signed with them).
	Config  aws.Config
	Secrets SecretsClient
	KMS     seal.KMSClient
	// Lambda invokes functions (the worker's kick).
	Lambda *awsapi.Lambda
}

// NewClients reads the region and credentials from the environment (AWS_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: what Lambda sets; see package awsapi) and creates the
// clients. It makes no network call and reads no file; without credentials, the first AWS call fails
// saying what to set.
func NewClients(ctx context.Context) (Clients, error) {
	c := awsapi.ConfigFromEnv(os.Getenv)
	return Clients{
		Config:  aws.Config{Region: c.Region, Credentials: c.Credentials},
		Secrets: &awsapi.SecretsManager{Config: c},
		KMS:     &awsapi.KMS{Config: c},
		Lambda:  &awsapi.Lambda{Config: c},
	}, nil
}

// Sealer returns the credential sealer the environment asks for: KMS with EnvKMSKeyID when set;
// otherwise, outside Lambda only, the local key file EnvSealKeyFile (DefaultSealKeyFile), created on
// first use. In Lambda without a KMS key it fails, rather than sealing with a key that dies with the
// instance.
func Sealer(getenv func(string) string, c Clients, inLambda bool) (seal.Sealer, error) {
	if keyID := strings.TrimSpace(getenv(EnvKMSKeyID)); keyID != "" {
		if c.KMS == nil {
			return nil, fmt.Errorf("%s is set but no KMS client was given", EnvKMSKeyID)
		}
		return seal.NewKMS(c.KMS, keyID, 0), nil
	}
	if inLambda {
		return nil, fmt.Errorf("%s is required in Lambda: credentials must be sealed with KMS", EnvKMSKeyID)
	}
	path := getenv(EnvSealKeyFile)
	if path == "" {
		path = DefaultSealKeyFile
	}
	s, err := seal.LocalFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("local credential sealer (%s): %w", EnvSealKeyFile, err)
	}
	return s, nil
}

// AllowLoopback reads EnvAllowLoopback: whether provider base URLs may resolve to loopback. Unset, it
// is true in local runs and false in Lambda.
func AllowLoopback(getenv func(string) string, inLambda bool) (bool, error) {
	v := strings.TrimSpace(getenv(EnvAllowLoopback))
	if v == "" {
		return !inLambda, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", EnvAllowLoopback, v)
	}
	return b, nil
}
