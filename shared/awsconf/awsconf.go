// Package awsconf turns the deployment's settings (package config, read from the environment) into
// what the binaries use, in Lambda and locally: the database connection (a URL, a Secrets Manager
// secret, or RDS IAM authentication), the credential sealer (KMS or a local key file) and the
// bootstrap admin token.
//
// Nothing here talks to AWS until a function that needs a secret is called, and creating the clients
// (NewClients) makes no call, so a cold start stays cheap. The clients are
// package awsapi's signed calls, not aws-sdk-go-v2's service packages, whose package init alone
// (endpoint tables, schemas) cost every cold start.
package awsconf

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/switchyard-ai/switchyard/shared/awsapi"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/seal"
)

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

// NewClients creates the clients from the region, credentials and endpoints of a (what Lambda sets;
// see package awsapi). It makes no network call and reads no file; without credentials, the first AWS
// call fails saying what to set.
func NewClients(a config.AWS) Clients {
	c := awsapi.Config{
		Region:      a.Region,
		Credentials: awsapi.StaticCredentials(a.AccessKeyID, a.SecretAccessKey, a.SessionToken),
		Endpoints:   a.Endpoints,
		UseFIPS:     a.UseFIPSEndpoint,
	}
	return Clients{
		Config:  aws.Config{Region: c.Region, Credentials: c.Credentials},
		Secrets: &awsapi.SecretsManager{Config: c},
		KMS:     &awsapi.KMS{Config: c},
		Lambda:  &awsapi.Lambda{Config: c},
	}
}

// Sealer returns the credential sealer the settings ask for: KMS with kmsKeyID when set; otherwise,
// outside Lambda only, the local key file keyFile, created on first use. In Lambda without a KMS key
// it fails, rather than sealing with a key that dies with the instance.
func Sealer(kmsKeyID, keyFile string, c Clients, inLambda bool) (seal.Sealer, error) {
	if kmsKeyID != "" {
		if c.KMS == nil {
			return nil, fmt.Errorf("%s is set but no KMS client was given", config.EnvKMSKeyID)
		}
		return seal.NewKMS(c.KMS, kmsKeyID, 0), nil
	}
	if inLambda {
		return nil, fmt.Errorf("%s is required in Lambda: credentials must be sealed with KMS", config.EnvKMSKeyID)
	}
	s, err := seal.LocalFromFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("local credential sealer (%s): %w", config.EnvSealKeyFile, err)
	}
	return s, nil
}
