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

	"github.com/switchyard-ai/switchyard/shared/seal"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

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

func TestDatabaseFromEnv(t *testing.T) {
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
			env:     env{EnvDatabaseURL: "postgres://u:p@localhost:5432/sy?sslmode=disable"},
			wantURL: "postgres://u:p@localhost:5432/sy?sslmode=disable",
		},
		{
			name:    "DATABASE_URL behind RDS Proxy gets exec mode",
			env:     env{EnvDatabaseURL: "postgres://u:p@proxy:5432/sy", EnvDatabaseRDSProxy: "true"},
			wantURL: "postgres://u:p@proxy:5432/sy?default_query_exec_mode=exec",
		},
		{
			name:    "DATABASE_URL keeps a mode it names",
			env:     env{EnvDatabaseURL: "postgres://u:p@proxy/sy?default_query_exec_mode=simple_protocol", EnvDatabaseRDSProxy: "true"},
			wantURL: "postgres://u:p@proxy/sy?default_query_exec_mode=simple_protocol",
		},
		{
			name:    "DATABASE_URL wins over a secret",
			env:     env{EnvDatabaseURL: "postgres://a@b/c", EnvDatabaseSecretARN: dbSecretARN},
			wantURL: "postgres://a@b/c",
		},
		{
			name:         "secret: the server's certificate is verified by default",
			env:          env{EnvDatabaseSecretARN: dbSecretARN},
			wantURL:      "postgres://switchyard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full",
			wantPassword: "p@ss/word",
		},
		{
			name:         "secret with the RDS CA bundle",
			env:          env{EnvDatabaseSecretARN: dbSecretARN, EnvDatabaseSSLRootCert: "/var/task/rds-global-bundle.pem"},
			wantURL:      "postgres://switchyard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full&sslrootcert=%2Fvar%2Ftask%2Frds-global-bundle.pem",
			wantPassword: "p@ss/word",
		},
		{
			name: "secret through RDS Proxy",
			env: env{EnvDatabaseSecretARN: dbSecretARN, EnvDatabaseRDSProxy: "true",
				EnvDatabaseHost: "sy.proxy-x.eu-west-1.rds.amazonaws.com", EnvDatabaseSSLMode: "verify-full"},
			wantURL:      "postgres://switchyard@sy.proxy-x.eu-west-1.rds.amazonaws.com:5432/switchyard?default_query_exec_mode=exec&sslmode=verify-full",
			wantPassword: "p@ss/word",
		},
		{
			name:         "secret with a string port and no dbname",
			env:          env{EnvDatabaseSecretARN: "string-port", EnvDatabaseSSLMode: "require"},
			wantURL:      "postgres://u@h:6543/postgres?sslmode=require",
			wantPassword: "pw-string-port",
		},
		{
			name:         "RDS-managed secret (username and password only), host and name from the parameters",
			env:          env{EnvDatabaseSecretARN: "rds-managed", EnvDatabaseHost: "sy.abc.eu-west-1.rds.amazonaws.com", EnvDatabaseName: "switchyard"},
			wantURL:      "postgres://postgres@sy.abc.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full",
			wantPassword: "Xq7:managed/pw",
		},
		{
			name:         "RDS-managed secret with a port parameter",
			env:          env{EnvDatabaseSecretARN: "rds-managed", EnvDatabaseHost: "db.internal", EnvDatabasePort: "6432", EnvDatabaseName: "sy"},
			wantURL:      "postgres://postgres@db.internal:6432/sy?sslmode=verify-full",
			wantPassword: "Xq7:managed/pw",
		},
		{
			name:    "RDS-managed secret without a host anywhere names both places",
			env:     env{EnvDatabaseSecretARN: "rds-managed", EnvDatabaseName: "switchyard"},
			wantErr: "the secret rds-managed has no host (the secret RDS manages holds only username and password) and DATABASE_HOST is empty; set the DatabaseHost parameter",
		},
		{
			name:         "full secret, an empty port and name in the environment keep the secret's",
			env:          env{EnvDatabaseSecretARN: dbSecretARN, EnvDatabasePort: "", EnvDatabaseName: " "},
			wantURL:      "postgres://switchyard@db.cluster-x.eu-west-1.rds.amazonaws.com:5432/switchyard?sslmode=verify-full",
			wantPassword: "p@ss/word",
		},
		{name: "secret without password", env: env{EnvDatabaseSecretARN: "no-password"}, wantErr: "lacks password"},
		{name: "secret without username", env: env{EnvDatabaseSecretARN: "no-username", EnvDatabaseHost: "h"}, wantErr: "lacks username"},
		{name: "secret that is not JSON", env: env{EnvDatabaseSecretARN: "not-json"}, wantErr: "not a JSON object with username and password"},
		{name: "secret that is a JSON array", env: env{EnvDatabaseSecretARN: "json-array"}, wantErr: "not a JSON object"},
		{name: "empty secret", env: env{EnvDatabaseSecretARN: "empty"}, wantErr: "not a JSON object"},
		{name: "secret with a bad port", env: env{EnvDatabaseSecretARN: "bad-port"}, wantErr: `port "54x32" is not a port number`},
		{name: "secret with a port out of range", env: env{EnvDatabaseSecretARN: "port-out-of-range"}, wantErr: "not a port number"},
		{name: "secret of another engine", env: env{EnvDatabaseSecretARN: "mysql"}, wantErr: `engine "mysql", not PostgreSQL`},
		{name: "secret with a bad port parameter", env: env{EnvDatabaseSecretARN: dbSecretARN, EnvDatabasePort: "five"}, wantErr: `DATABASE_PORT="five" is not a port number`},
		{name: "unknown secret", env: env{EnvDatabaseSecretARN: "missing"}, wantErr: "reading database secret missing"},
		{
			name:    "IAM",
			env:     env{EnvDatabaseIAM: "true", EnvDatabaseHost: "db.example", EnvDatabaseUser: "switchyard_app", EnvDatabaseName: "sy"},
			wantURL: "postgres://switchyard_app@db.example:5432/sy?sslmode=verify-full",
			// the token is checked below
		},
		{name: "IAM without host", env: env{EnvDatabaseIAM: "true", EnvDatabaseUser: "u"}, wantErr: "needs DATABASE_HOST"},
		{name: "IAM with a bad port", env: env{EnvDatabaseIAM: "1", EnvDatabaseHost: "h", EnvDatabaseUser: "u", EnvDatabasePort: "x"}, wantErr: "not a port"},
		{name: "bad boolean", env: env{EnvDatabaseIAM: "yes please"}, wantErr: "want true or false"},
		{name: "nothing set", env: env{}, wantErr: "no database configured"},
		{name: "not a postgres URL", env: env{EnvDatabaseURL: "mysql://x"}, wantErr: "not a postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := DatabaseFromEnv(context.Background(), tt.env.get, clients)
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
	db, err := DatabaseFromEnv(context.Background(), env{EnvDatabaseSecretARN: dbSecretARN}.get, Clients{Secrets: secrets})
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
		{name: "JSON secret", env: env{EnvAdminTokenSecretARN: "json"}, want: "sy-admin-abc"},
		{name: "plain secret", env: env{EnvAdminTokenSecretARN: "plain", EnvAdminToken: "ignored"}, want: "sy-admin-plain"},
		{name: "env token", env: env{EnvAdminToken: "local-token"}, want: "local-token"},
		{name: "none", env: env{}, want: ""},
		{name: "empty secret", env: env{EnvAdminTokenSecretARN: "blank"}, wantErr: "empty"},
		{name: "missing secret", env: env{EnvAdminTokenSecretARN: "nope"}, wantErr: "reading the admin token secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AdminToken(context.Background(), tt.env.get, Clients{Secrets: secrets})
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
		{name: "KMS key", env: env{EnvKMSKeyID: "alias/switchyard"}, clients: Clients{KMS: nopKMS{}}, inLambda: true, wantKind: seal.KindKMS},
		{name: "local key file", env: env{EnvSealKeyFile: keyFile}, wantKind: seal.KindLocal},
		{name: "Lambda without KMS", env: env{EnvSealKeyFile: keyFile}, inLambda: true, wantErr: "SWITCHYARD_KMS_KEY_ID is required"},
		{name: "KMS key without client", env: env{EnvKMSKeyID: "k"}, wantErr: "no KMS client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Sealer(tt.env.get, tt.clients, tt.inLambda)
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

func TestAllowLoopback(t *testing.T) {
	tests := []struct {
		v        string
		inLambda bool
		want     bool
		wantErr  bool
	}{
		{"", false, true, false},
		{"", true, false, false},
		{"true", true, true, false},
		{"false", false, false, false},
		{"maybe", false, false, true},
	}
	for _, tt := range tests {
		got, err := AllowLoopback(env{EnvAllowLoopback: tt.v}.get, tt.inLambda)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("AllowLoopback(%q, lambda=%v) = %v, %v; want %v", tt.v, tt.inLambda, got, err, tt.want)
		}
	}
}
