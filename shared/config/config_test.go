package config

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

// TestLoad: every variable, a valid value and what the Config then holds, and a malformed value and
// the error naming it. Variables without a malformed case take any string.
func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		check    func(Config) bool // the valid value's effect
		bad      string            // a malformed value; "" when every string is valid
		wantBad  string            // what the error says is expected
		noQuoted bool              // the malformed value is a secret: the error must not repeat it
	}{
		{name: EnvLambdaRuntimeAPI, value: "127.0.0.1:9001", check: func(c Config) bool { return c.InLambda }},
		{name: EnvDatabaseURL, value: "postgres://u:pw@h:5432/db?sslmode=disable", check: func(c Config) bool { return c.Database.URL == "postgres://u:pw@h:5432/db?sslmode=disable" },
			bad: "mysql://u:hunter2@h/db", wantBad: "a postgres:// URL", noQuoted: true},
		{name: EnvDatabaseSecretARN, value: "arn:aws:secretsmanager:eu-west-1:1:secret:db", check: func(c Config) bool { return c.Database.SecretARN == "arn:aws:secretsmanager:eu-west-1:1:secret:db" }},
		{name: EnvDatabaseIAM, value: "true", check: func(c Config) bool { return c.Database.IAM }, bad: "yes please", wantBad: "true or false"},
		{name: EnvDatabaseHost, value: "db.internal", check: func(c Config) bool { return c.Database.Host == "db.internal" }},
		{name: EnvDatabasePort, value: "6432", check: func(c Config) bool { return c.Database.Port == 6432 }, bad: "70000", wantBad: "a port number from 1 to 65535"},
		{name: EnvDatabaseUser, value: "switchyard", check: func(c Config) bool { return c.Database.User == "switchyard" }},
		{name: EnvDatabaseName, value: "sy", check: func(c Config) bool { return c.Database.Name == "sy" }},
		{name: EnvDatabaseSSLMode, value: "require", check: func(c Config) bool { return c.Database.SSLMode == "require" }, bad: "on", wantBad: "one of disable, allow, prefer, require, verify-ca, verify-full"},
		{name: EnvDatabaseSSLRootCert, value: "/var/task/rds.pem", check: func(c Config) bool { return c.Database.SSLRootCert == "/var/task/rds.pem" }},
		{name: EnvDatabaseRDSProxy, value: "1", check: func(c Config) bool { return c.Database.RDSProxy }, bad: "proxy", wantBad: "true or false"},
		{name: EnvLogLevel, value: "debug", check: func(c Config) bool { return c.LogLevel == slog.LevelDebug }, bad: "loud", wantBad: "debug, info, warn or error"},
		{name: EnvAddr, value: "0.0.0.0:9000", check: func(c Config) bool { return c.Addr == "0.0.0.0:9000" }, bad: "8080", wantBad: "host:port"},
		{name: EnvLocal, value: "true", check: func(c Config) bool { return c.Local }, bad: "local", wantBad: "true or false"},
		{name: EnvAllowLoopback, value: "false", check: func(c Config) bool { return !c.AllowLoopback }, bad: "maybe", wantBad: "true or false"},
		{name: EnvPublicBasePath, value: "/prod/", check: func(c Config) bool { return c.PublicBasePath == "/prod/" }, bad: "prod", wantBad: "a path such as /prod"},
		{name: EnvSnapshotIntervalMS, value: "250", check: func(c Config) bool { return c.SnapshotInterval == 250*time.Millisecond }, bad: "abc", wantBad: "a whole number of milliseconds above 0"},
		{name: EnvMaxRequestBytes, value: "1048576", check: func(c Config) bool { return c.MaxRequestBytes == 1<<20 }, bad: "8MiB", wantBad: "a whole number of bytes above 0"},
		{name: EnvFallbackAttempts, value: "2", check: func(c Config) bool { return c.FallbackAttempts == 2 }, bad: "many", wantBad: "a whole number of attempts from 1 to 100"},
		{name: EnvRequestDeadlineMS, value: "60000", check: func(c Config) bool { return c.RequestDeadline == time.Minute }, bad: "1m", wantBad: "a whole number of milliseconds above 0"},
		{name: EnvCooldownFailures, value: "7", check: func(c Config) bool { return c.CooldownFailures == 7 }, bad: "0", wantBad: "a whole number of failures above 0"},
		{name: EnvCooldownWindowMS, value: "10000", check: func(c Config) bool { return c.CooldownWindow == 10*time.Second }, bad: "-1", wantBad: "a whole number of milliseconds above 0"},
		{name: EnvCooldownMS, value: "5000", check: func(c Config) bool { return c.Cooldown == 5*time.Second }, bad: "x", wantBad: "a whole number of milliseconds above 0"},
		{name: EnvCapacityLeaseMS, value: "3000", check: func(c Config) bool { return c.CapacityLease == 3*time.Second }, bad: "30s", wantBad: "a whole number of milliseconds above 0"},
		{name: EnvKMSKeyID, value: "alias/sy", check: func(c Config) bool { return c.KMSKeyID == "alias/sy" }},
		{name: EnvSealKeyFile, value: "/tmp/k", check: func(c Config) bool { return c.SealKeyFile == "/tmp/k" }},
		{name: EnvAdminTokenSecretARN, value: "arn:tok", check: func(c Config) bool { return c.AdminTokenSecretARN == "arn:tok" }},
		{name: EnvAdminToken, value: "sya-token", check: func(c Config) bool { return c.AdminToken == "sya-token" }},
		{name: EnvWorkerFunction, value: "sy-worker", check: func(c Config) bool { return c.WorkerFunction == "sy-worker" }},
		{name: EnvReembedBatch, value: "2048", check: func(c Config) bool { return c.Reembed.Batch == 2048 }, bad: "2049", wantBad: "a whole number from 1 to 2048"},
		{name: EnvReembedShards, value: "8", check: func(c Config) bool { return c.Reembed.Shards == 8 }, bad: "0", wantBad: "a whole number above 0"},
		{name: EnvReembedWorkers, value: "2", check: func(c Config) bool { return c.Reembed.Workers == 2 }, bad: "-1", wantBad: "a whole number above 0"},
		{name: EnvReembedRetention, value: "1h30m", check: func(c Config) bool { return c.Reembed.Retention == 90*time.Minute }, bad: "1day", wantBad: "a Go duration above 0"},
		{name: EnvReembedRescueAfter, value: "5m", check: func(c Config) bool { return c.Reembed.RescueAfter == 5*time.Minute }, bad: "-2m", wantBad: "a Go duration above 0"},
		{name: EnvReembedBuildTimeout, value: "20m", check: func(c Config) bool { return c.Reembed.BuildTimeout == 20*time.Minute }, bad: "15", wantBad: "a Go duration above 0"},
		{name: EnvReembedThreshold, value: "0.9", check: func(c Config) bool { return c.Reembed.Threshold == 0.9 }, bad: "95%", wantBad: "a number above 0 and at most 1"},
		{name: EnvAWSRegion, value: "eu-west-1", check: func(c Config) bool { return c.AWS.Region == "eu-west-1" }},
		{name: EnvAWSDefaultRegion, value: "eu-west-2", check: func(c Config) bool { return c.AWS.Region == "eu-west-2" }},
		{name: EnvAWSAccessKeyID, value: "AKID", check: func(c Config) bool { return c.AWS.AccessKeyID == "AKID" }},
		{name: EnvAWSAccessKey, value: "AKID2", check: func(c Config) bool { return c.AWS.AccessKeyID == "AKID2" }},
		{name: EnvAWSSecretAccessKey, value: "s3cret", check: func(c Config) bool { return c.AWS.SecretAccessKey == "s3cret" }},
		{name: EnvAWSSecretKey, value: "s3cret2", check: func(c Config) bool { return c.AWS.SecretAccessKey == "s3cret2" }},
		{name: EnvAWSSessionToken, value: "session", check: func(c Config) bool { return c.AWS.SessionToken == "session" }},
		{name: EnvAWSUseFIPSEndpoint, value: "TRUE", check: func(c Config) bool { return c.AWS.UseFIPSEndpoint }, bad: "1", wantBad: "true or false"},
		{name: EnvAWSEndpointURL, value: "http://localhost:4566", check: func(c Config) bool { return c.AWS.Endpoints[""] == "http://localhost:4566" }, bad: "localhost:4566", wantBad: "an http:// or https:// URL"},
		{name: EnvAWSEndpointURLKMS, value: "http://127.0.0.1:1", check: func(c Config) bool { return c.AWS.Endpoints["KMS"] == "http://127.0.0.1:1" }, bad: "kms", wantBad: "an http:// or https:// URL"},
		{name: EnvAWSEndpointURLSecretsManager, value: "https://sm.local", check: func(c Config) bool { return c.AWS.Endpoints["SECRETS_MANAGER"] == "https://sm.local" }, bad: "ftp://sm", wantBad: "an http:// or https:// URL"},
		{name: EnvAWSEndpointURLLambda, value: "http://l.local", check: func(c Config) bool { return c.AWS.Endpoints["LAMBDA"] == "http://l.local" }, bad: "http://", wantBad: "an http:// or https:// URL"},
	}
	// Every variable Load reads has a case.
	read := map[string]bool{}
	_, _ = Load(func(k string) string { read[k] = true; return "" })
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.name] = true
	}
	for name := range read {
		if !covered[name] {
			t.Errorf("TestLoad has no case for %s", name)
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env{tt.name: " " + tt.value + " "}.get)
			if err != nil {
				t.Fatalf("%s=%q: %v", tt.name, tt.value, err)
			}
			if !tt.check(c) {
				t.Errorf("%s=%q: Config = %+v", tt.name, tt.value, c)
			}
			if tt.bad == "" {
				return
			}
			_, err = Load(env{tt.name: tt.bad}.get)
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("%s=%q: err = %v, want one problem", tt.name, tt.bad, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.name) || !strings.Contains(msg, "want "+tt.wantBad) {
				t.Errorf("%s=%q: error %q does not name the variable and say %q", tt.name, tt.bad, msg, tt.wantBad)
			}
			if quoted := strings.Contains(msg, tt.bad); quoted == tt.noQuoted {
				t.Errorf("%s=%q: error %q quotes the value: %v, want %v", tt.name, tt.bad, msg, quoted, !tt.noQuoted)
			}
		})
	}
}

// TestLoadDefaults: with nothing set, every setting is its documented default (zero numbers and
// durations mean the component's own default, see Config).
func TestLoadDefaults(t *testing.T) {
	c, err := Load(env{}.get)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		LogLevel:      slog.LevelInfo,
		AllowLoopback: true, // outside Lambda
		SealKeyFile:   "infra/dev/.local/seal.key",
		AWS:           AWS{Endpoints: map[string]string{}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(nothing) = %+v\nwant %+v", c, want)
	}
	lambda, err := Load(env{EnvLambdaRuntimeAPI: "127.0.0.1:9001"}.get)
	if err != nil || lambda.AllowLoopback {
		t.Errorf("in Lambda, AllowLoopback = %v (%v); want false by default", lambda.AllowLoopback, err)
	}
	// A database on a Unix socket has no host in its URL.
	if sock, err := Load(env{EnvDatabaseURL: "postgres:///sy?host=/run/postgresql"}.get); err != nil || sock.Database.URL == "" {
		t.Errorf("a Unix socket URL: %v", err)
	}
	// The standard names win over their fallbacks.
	both, _ := Load(env{EnvAWSRegion: "a", EnvAWSDefaultRegion: "b", EnvAWSAccessKeyID: "c", EnvAWSAccessKey: "d",
		EnvAWSSecretAccessKey: "e", EnvAWSSecretKey: "f"}.get)
	if both.AWS.Region != "a" || both.AWS.AccessKeyID != "c" || both.AWS.SecretAccessKey != "e" {
		t.Errorf("AWS = %+v; want the standard names to win", both.AWS)
	}
}

// TestLoadReportsEveryProblem: a start with several mistakes names them all at once, in one error.
func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env{
		EnvSnapshotIntervalMS:  "abc",
		EnvReembedRetention:    "1day",
		EnvDatabaseIAM:         "yes",
		EnvAWSUseFIPSEndpoint:  "on",
		EnvReembedThreshold:    "2",
		EnvDatabaseURL:         "https://u:hunter2@h",
		EnvMaxRequestBytes:     "0",
		EnvPublicBasePath:      "/a b",
		EnvReembedBuildTimeout: "15",
	}.get)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	got := map[string]string{}
	for _, p := range ce.Problems {
		got[p.Variable] = p.Value
	}
	want := map[string]string{
		EnvSnapshotIntervalMS: "abc", EnvReembedRetention: "1day", EnvDatabaseIAM: "yes", EnvAWSUseFIPSEndpoint: "on",
		EnvReembedThreshold: "2", EnvDatabaseURL: "", EnvMaxRequestBytes: "0", EnvPublicBasePath: "/a b", EnvReembedBuildTimeout: "15",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %v\nwant %v", got, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "configuration: 9 malformed variables: ") || strings.Contains(msg, "hunter2") {
		t.Errorf("message %q", msg)
	}
	if !strings.Contains(msg, `SWITCHYARD_SNAPSHOT_INTERVAL_MS="abc": want a whole number of milliseconds above 0`) {
		t.Errorf("message %q does not spell out the interval's problem", msg)
	}
}
