package awsconf

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/seal"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

// load is e's configuration; e must be well formed.
func load(t *testing.T, e env) config.Config {
	t.Helper()
	c, err := config.Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resolve resolves the database e configures, as the binaries do: config.Load, then ResolveDatabase.
// A malformed variable is config.Load's error.
func resolve(e env, c Clients) (Database, error) {
	cfg, err := config.Load(e.get)
	if err != nil {
		return Database{}, err
	}
	return ResolveDatabase(context.Background(), cfg.Database, c)
}

// fakeSecrets answers GetSecretValue from a map and counts calls.
type fakeSecrets struct {
	values map[string]string
	calls  int
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, id string) (string, error) {
	f.calls++
	v, ok := f.values[id]
	if !ok {
		return "", errors.New("ResourceNotFoundException")
	}
	return v, nil
}

const dbSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"

func TestResolveDatabase(t *testing.T) {
	// Every shape of database secret a user can have. Each password is distinct, so a test can tell no
	// error message ever quotes one.
	secrets := &fakeSecrets{values: map[string]string{
		// A secret made for rotation, or by hand in RDS's full format.
		dbSecretARN:   `{"engine":"postgres","username":"switchyard","password":"p@ss/word","host":"db.cluster-x.eu-west-1.rds.amazonaws.com","port":5432,"dbname":"switchyard"}`,
		"string-port": `{"username":"u","password":"pw-string-port","host":"h","port":"6543"}`,
		// The secret RDS manages for the master user: username and password only.
		"rds-managed":       `{"username":"postgres","password":"Xq7:managed/pw"}`,
		"no-password":       `{"username":"u","host":"h"}`,
		"no-username":       `{"password":"hunter2-nouser","host":"h"}`,
		"not-json":          `postgres://u:hunter2@h/db`,
		"json-array":        `["postgres","hunter2-array"]`,
		"bad-port":          `{"username":"u","password":"hunter2-port","host":"h","port":"54x32"}`,
		"port-out-of-range": `{"username":"u","password":"hunter2-range","host":"h","port":70000}`,
		"mysql":             `{"engine":"mysql","username":"u","password":"hunter2-mysql","host":"h","port":3306}`,
		"empty":             ``,
	}}
	clients := Clients{
		Secrets: secrets,
		Config:  aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")},
	}
	tests := []struct {
		name         string
		env          env
		wantURL      string
		wantPassword string // "" means Password must be nil
		wantErr      string
	}{
		{
			name:    "DATABASE_URL as is",
			env:     env{config.EnvDatabaseURL: "postgres://u:p@localhost:5432/sy?sslmode=disable"},
			wantURL: "postgres://u:p@localhost:5432/sy?sslmode=disable",
		},
		{
			name:    "DATABASE_URL behind RDS Proxy gets exec mode",
			env:     env{config.EnvDatabaseURL: "postgres://u:p@proxy:5432/sy", config.EnvDatabaseRDSProxy: "true"},
			wantURL: "postgres://u:p@proxy:5432/sy?default_query_exec_mode=exec",
		},
		{
			name:    "DATABASE_URL keeps a mode it names",
			env:     env{config.EnvDatabaseURL: "postgres://u:p@proxy/sy?default_query_exec_mode=simple_protocol", config.EnvDatabaseRDSProxy: "true"},
			wantURL: "postgres://u:p@proxy/sy?default_query_exec_mode=simple_protocol",
		},
		{
			name:    "DATABASE_URL wins over a secret",
			env:     env{config.EnvDatabaseURL: "postgres://a@b/c", config.EnvDatabaseSecretARN: dbSecretARN},
			wantURL: "postgres://a@b/c",
		},
		{
			name:         "secret: the server's certificate is verified by default",
			env:          env{config.EnvDatabaseSecretARN: dbSecretARN},
			wantURL:      "postgres://switchyard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full",
			wantPassword: "p@ss/word",
		},
		{
			name:         "secret with the RDS CA bundle",
			env:          env{config.EnvDatabaseSecretARN: dbSecretARN, config.EnvDatabaseSSLRootCert: "/var/task/rds-global-bundle.pem"},
			wantURL:      "postgres://switchyard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full&sslrootcert=%2Fvar%2Ftask%2Frds-global-bundle.pem",
			wantPassword: "p@ss/word",
		},
		{
			name: "secret through RDS Proxy",
			env: env{config.EnvDatabaseSecretARN: dbSecretARN, config.EnvDatabaseRDSProxy: "true",
				config.EnvDatabaseHost: "sy.proxy-x.eu-west-1.rds.amazonaws.com", config.EnvDatabaseSSLMode: "verify-full"},
			wantURL:      "postgres://switchyard@sy.proxy-x.eu-west-1.rds.amazonaws.com:5432/switchyard?default_query_exec_mode=exec&sslmode=verify-full",
			wantPassword: "p@ss/word",
		},
		{
			name:         "secret with a string port and no dbname",
			env:          env{config.EnvDatabaseSecretARN: "string-port", config.EnvDatabaseSSLMode: "require"},
			wantURL:      "postgres://u@h:6543/postgres?sslmode=require",
			wantPassword: "pw-string-port",
		},
		{
			name:         "RDS-managed secret (username and password only), host and name from the parameters",
			env:          env{config.EnvDatabaseSecretARN: "rds-managed", config.EnvDatabaseHost: "sy.abc.eu-west-1.rds.amazonaws.com", config.EnvDatabaseName: "switchyard"},
			wantURL:      "postgres://postgres@sy.abc.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full",
			wantPassword: "Xq7:managed/pw",
		},
		{
			name:         "RDS-managed secret with a port parameter",
			env:          env{config.EnvDatabaseSecretARN: "rds-managed", config.EnvDatabaseHost: "db.internal", config.EnvDatabasePort: "6432", config.EnvDatabaseName: "sy"},
			wantURL:      "postgres://postgres@db.internal:6432/sy?sslmode=verify-full",
			wantPassword: "Xq7:managed/pw",
		},
		{
			name:    "RDS-managed secret without a host anywhere names both places",
			env:     env{config.EnvDatabaseSecretARN: "rds-managed", config.EnvDatabaseName: "switchyard"},
			wantErr: "the secret rds-managed has no host (the secret RDS manages holds only username and password) and DATABASE_HOST is empty; set the DatabaseHost parameter",
		},
		{
			name:         "full secret, an empty port and name in the environment keep the secret's",
			env:          env{config.EnvDatabaseSecretARN: dbSecretARN, config.EnvDatabasePort: "", config.EnvDatabaseName: " "},
			wantURL:      "postgres://switchyard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full",
			wantPassword: "p@ss/word",
		},
		{name: "secret without password", env: env{config.EnvDatabaseSecretARN: "no-password"}, wantErr: "lacks password"},
		{name: "secret without username", env: env{config.EnvDatabaseSecretARN: "no-username", config.EnvDatabaseHost: "h"}, wantErr: "lacks username"},
		{name: "secret that is not JSON", env: env{config.EnvDatabaseSecretARN: "not-json"}, wantErr: "not a JSON object with username and password"},
		{name: "secret that is a JSON array", env: env{config.EnvDatabaseSecretARN: "json-array"}, wantErr: "not a JSON object"},
		{name: "empty secret", env: env{config.EnvDatabaseSecretARN: "empty"}, wantErr: "not a JSON object"},
		{name: "secret with a bad port", env: env{config.EnvDatabaseSecretARN: "bad-port"}, wantErr: `port "54x32" is not a port number`},
		{name: "secret with a port out of range", env: env{config.EnvDatabaseSecretARN: "port-out-of-range"}, wantErr: "not a port number"},
		{name: "secret of another engine", env: env{config.EnvDatabaseSecretARN: "mysql"}, wantErr: `engine "mysql", not PostgreSQL`},
		{name: "secret with a bad port parameter", env: env{config.EnvDatabaseSecretARN: dbSecretARN, config.EnvDatabasePort: "five"}, wantErr: `DATABASE_PORT="five": want a port number from 1 to 65535`},
		{name: "unknown secret", env: env{config.EnvDatabaseSecretARN: "missing"}, wantErr: "reading database secret missing"},
		{
			name:    "IAM",
			env:     env{config.EnvDatabaseIAM: "true", config.EnvDatabaseHost: "db.example", config.EnvDatabaseUser: "switchyard_app", config.EnvDatabaseName: "sy"},
			wantURL: "postgres://switchyard_app@db.example:5432/sy?sslmode=verify-full",
			// the token is checked below
		},
		{name: "IAM without host", env: env{config.EnvDatabaseIAM: "true", config.EnvDatabaseUser: "u"}, wantErr: "needs DATABASE_HOST"},
		{name: "IAM with a bad port", env: env{config.EnvDatabaseIAM: "1", config.EnvDatabaseHost: "h", config.EnvDatabaseUser: "u", config.EnvDatabasePort: "x"}, wantErr: "want a port number"},
		{name: "bad boolean", env: env{config.EnvDatabaseIAM: "yes please"}, wantErr: "want true or false"},
		{name: "nothing set", env: env{}, wantErr: "no database configured"},
		{name: "not a postgres URL", env: env{config.EnvDatabaseURL: "mysql://x"}, wantErr: "want a postgres:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := resolve(tt.env, clients)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				for _, sec := range secrets.values {
					var pw struct{ Password string }
					if json.Unmarshal([]byte(sec), &pw) == nil && pw.Password != "" && strings.Contains(err.Error(), pw.Password) {
						t.Errorf("error quotes a password: %v", err)
					}
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if db.URL != tt.wantURL {
				t.Errorf("URL = %s\n      want %s", db.URL, tt.wantURL)
			}
			switch {
			case db.Source == "iam":
				tok, err := db.Password(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(tok, "db.example:5432?") || !strings.Contains(tok, "Action=connect") ||
					!strings.Contains(tok, "DBUser=switchyard_app") || !strings.Contains(tok, "X-Amz-Signature=") {
					t.Errorf("IAM token = %s", tok)
				}
			case tt.wantPassword == "":
				if db.Password != nil {
					t.Error("Password set for a URL that carries its own")
				}
			default:
				got, err := db.Password(context.Background())
				if err != nil || got != tt.wantPassword {
					t.Errorf("Password() = %q, %v; want %q", got, err, tt.wantPassword)
				}
				if u, _ := url.Parse(db.URL); u != nil {
					if _, has := u.User.Password(); has {
						t.Error("URL carries the password although Password is set")
					}
				}
			}
		})
	}
}

func TestSecretPasswordIsCachedBetweenConnections(t *testing.T) {
	secrets := &fakeSecrets{values: map[string]string{dbSecretARN: `{"username":"u","password":"p","host":"h"}`}}
	db, err := resolve(env{config.EnvDatabaseSecretARN: dbSecretARN}, Clients{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := db.Password(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if secrets.calls != 1 {
		t.Errorf("Secrets Manager called %d times for resolve + 5 connections, want 1", secrets.calls)
	}
}

func TestAdminToken(t *testing.T) {
	secrets := &fakeSecrets{values: map[string]string{
		"json":  `{"token":"sy-admin-abc"}`,
		"plain": "sy-admin-plain\n",
		"blank": `{"token":""}`,
	}}
	tests := []struct {
		name, want, wantErr string
		env                 env
	}{
		{name: "JSON secret", env: env{config.EnvAdminTokenSecretARN: "json"}, want: "sy-admin-abc"},
		{name: "plain secret", env: env{config.EnvAdminTokenSecretARN: "plain", config.EnvAdminToken: "ignored"}, want: "sy-admin-plain"},
		{name: "env token", env: env{config.EnvAdminToken: "local-token"}, want: "local-token"},
		{name: "none", env: env{}, want: ""},
		{name: "empty secret", env: env{config.EnvAdminTokenSecretARN: "blank"}, wantErr: "empty"},
		{name: "missing secret", env: env{config.EnvAdminTokenSecretARN: "nope"}, wantErr: "reading the admin token secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := load(t, tt.env)
			got, err := AdminToken(context.Background(), cfg.AdminTokenSecretARN, cfg.AdminToken, Clients{Secrets: secrets})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("AdminToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSealerFromEnv(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "seal.key")
	tests := []struct {
		name     string
		env      env
		clients  Clients
		inLambda bool
		wantKind seal.Kind
		wantErr  string
	}{
		{name: "KMS key", env: env{config.EnvKMSKeyID: "alias/switchyard"}, clients: Clients{KMS: nopKMS{}}, inLambda: true, wantKind: seal.KindKMS},
		{name: "local key file", env: env{config.EnvSealKeyFile: keyFile}, wantKind: seal.KindLocal},
		{name: "Lambda without KMS", env: env{config.EnvSealKeyFile: keyFile}, inLambda: true, wantErr: "SWITCHYARD_KMS_KEY_ID is required"},
		{name: "KMS key without client", env: env{config.EnvKMSKeyID: "k"}, wantErr: "no KMS client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := load(t, tt.env)
			s, err := Sealer(cfg.KMSKeyID, cfg.SealKeyFile, tt.clients, tt.inLambda)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tt.wantKind {
			case seal.KindKMS:
				if _, ok := s.(*seal.KMS); !ok {
					t.Errorf("sealer = %T, want *seal.KMS", s)
				}
			case seal.KindLocal:
				if _, ok := s.(*seal.Local); !ok {
					t.Errorf("sealer = %T, want *seal.Local", s)
				}
			}
		})
	}
}

type nopKMS struct{ seal.KMSClient }
