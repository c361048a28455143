package awsconf

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/switchyard-ai/switchyard/shared/config"
)

// Database is how to reach Postgres.
//
// Wire it into pgx's pool as:
//
//	cfg, err := pgxpool.ParseConfig(db.URL)
//	if db.Password != nil {
//		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
//			p, err := db.Password(ctx)
//			cc.Password = p
//			return err
//		}
//	}
//
// In Lambda, keep the pool small (MaxConns 2 to 4: an instance serves one request at a time) and create
// it once per instance, lazily, on the first request that needs the database.
type Database struct {
	// URL is a Postgres URL pgx parses. When Password is set, the URL has no password.
	URL string
	// Password, when not nil, returns the password for a new connection: a fresh RDS IAM token (valid
	// 15 minutes; signing is local, no network), or the secret's password (re-read from Secrets
	// Manager at most every 5 minutes, so a rotation is picked up).
	Password func(ctx context.Context) (string, error)
	// Source says where the settings came from, for logs: "DATABASE_URL", "secret", or "iam".
	Source string
}

// ResolveDatabase resolves the database from its settings (package config), first match wins:
//
//   - DATABASE_URL: used as is;
//   - DATABASE_SECRET_ARN: the Secrets Manager secret's username and password (read once now), with
//     DATABASE_HOST, DATABASE_PORT and DATABASE_NAME overriding its host (say, an RDS Proxy endpoint), port
//     and dbname. The secret RDS manages for a master user holds only username and password, so the host
//     may come from DATABASE_HOST alone; the port defaults to 5432 and the name to postgres;
//   - DATABASE_IAM=true: DATABASE_HOST, DATABASE_PORT (5432), DATABASE_USER, DATABASE_NAME (postgres),
//     and an IAM token per connection signed with the function's role in c.Config.Region.
//
// Secret and IAM URLs get sslmode=verify-full (DATABASE_SSLMODE overrides) and, when
// DATABASE_SSLROOTCERT names a file (the RDS CA bundle), sslrootcert. With DATABASE_RDS_PROXY=true
// the URL gets default_query_exec_mode=exec unless it already names a mode.
func ResolveDatabase(ctx context.Context, d config.Database, c Clients) (Database, error) {
	if d.URL != "" {
		// config.Load checked it is a postgres:// URL.
		u, err := url.Parse(d.URL)
		if err != nil {
			return Database{}, fmt.Errorf("%s is not a postgres:// URL", config.EnvDatabaseURL)
		}
		q := u.Query()
		addProxyMode(q, d.RDSProxy)
		u.RawQuery = q.Encode()
		return Database{URL: u.String(), Source: config.EnvDatabaseURL}, nil
	}
	if d.SecretARN != "" {
		return databaseFromSecret(ctx, d, c)
	}
	if d.IAM {
		return databaseFromIAM(d, c)
	}
	return Database{}, fmt.Errorf("no database configured: set %s, %s, or %s=true with %s and %s",
		config.EnvDatabaseURL, config.EnvDatabaseSecretARN, config.EnvDatabaseIAM, config.EnvDatabaseHost, config.EnvDatabaseUser)
}

// rdsSecret is the JSON RDS (and Secrets Manager's RDS rotation) keeps in a database secret.
type rdsSecret struct {
	Username string          `json:"username"`
	Password string          `json:"password"`
	Host     string          `json:"host"`
	Port     json.RawMessage `json:"port"` // a number, or sometimes a string
	DBName   string          `json:"dbname"`
	Engine   string          `json:"engine"`
}

// parseRDSSecret reads a secret string and checks it names a user and a password. Host, port and dbname
// are optional: the secret RDS manages for a master user ("Manage master credentials in AWS Secrets
// Manager") holds only username and password, while a secret made for rotation holds all of them.
func parseRDSSecret(s string) (rdsSecret, int, error) {
	var sec rdsSecret
	if err := json.Unmarshal([]byte(s), &sec); err != nil {
		// Never quote the secret, nor json's error (it quotes the input): it holds a password.
		return rdsSecret{}, 0, errors.New("the database secret is not a JSON object with username and password (RDS's format)")
	}
	var missing []string
	if sec.Username == "" {
		missing = append(missing, "username")
	}
	if sec.Password == "" {
		missing = append(missing, "password")
	}
	if len(missing) > 0 {
		return rdsSecret{}, 0, fmt.Errorf("the database secret lacks %s", strings.Join(missing, ", "))
	}
	if e := strings.ToLower(sec.Engine); e != "" && !strings.Contains(e, "postgres") {
		return rdsSecret{}, 0, fmt.Errorf("the database secret is for engine %q, not PostgreSQL", sec.Engine)
	}
	port := 5432
	if p := strings.Trim(string(sec.Port), `" `); p != "" && p != "null" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return rdsSecret{}, 0, fmt.Errorf("the database secret's port %q is not a port number", p)
		}
		port = n
	}
	return sec, port, nil
}

func databaseFromSecret(ctx context.Context, d config.Database, c Clients) (Database, error) {
	arn := d.SecretARN
	if c.Secrets == nil {
		return Database{}, fmt.Errorf("%s is set but no Secrets Manager client was given", config.EnvDatabaseSecretARN)
	}
	read := func(ctx context.Context) (rdsSecret, int, error) {
		out, err := c.Secrets.GetSecretValue(ctx, arn)
		if err != nil {
			return rdsSecret{}, 0, fmt.Errorf("reading database secret %s: %w", arn, err)
		}
		sec, port, err := parseRDSSecret(out)
		if err != nil {
			return rdsSecret{}, 0, fmt.Errorf("database secret %s: %w", arn, err)
		}
		return sec, port, nil
	}
	sec, port, err := read(ctx)
	if err != nil {
		return Database{}, err
	}
	host := firstNonEmpty(d.Host, sec.Host)
	if host == "" {
		return Database{}, fmt.Errorf("no database host: the secret %s has no host (the secret RDS manages holds only username and password) and %s is empty; set the DatabaseHost parameter (%s) to the database or RDS Proxy endpoint", arn, config.EnvDatabaseHost, config.EnvDatabaseHost)
	}
	if d.Port != 0 {
		port = d.Port
	}
	name := firstNonEmpty(d.Name, sec.DBName, "postgres")
	u := buildURL(sec.Username, host, port, name, d)

	cached := &cachedPassword{ttl: 5 * time.Minute, value: sec.Password, fetched: time.Now(), refresh: func(ctx context.Context) (string, error) {
		s, _, err := read(ctx)
		return s.Password, err
	}}
	return Database{URL: u, Password: cached.get, Source: "secret"}, nil
}

func databaseFromIAM(d config.Database, c Clients) (Database, error) {
	host, user := d.Host, d.User
	if host == "" || user == "" {
		return Database{}, fmt.Errorf("%s=true needs %s and %s", config.EnvDatabaseIAM, config.EnvDatabaseHost, config.EnvDatabaseUser)
	}
	port := cmp.Or(d.Port, 5432)
	if c.Config.Region == "" || c.Config.Credentials == nil {
		return Database{}, fmt.Errorf("%s=true needs AWS credentials and a region (AWS_REGION)", config.EnvDatabaseIAM)
	}
	name := firstNonEmpty(d.Name, "postgres")
	endpoint := net.JoinHostPort(host, strconv.Itoa(port))
	region, creds := c.Config.Region, c.Config.Credentials
	token := func(ctx context.Context) (string, error) {
		t, err := auth.BuildAuthToken(ctx, endpoint, region, user, creds)
		if err != nil {
			return "", fmt.Errorf("building an RDS IAM token for %s@%s: %w", user, endpoint, err)
		}
		return t, nil
	}
	return Database{URL: buildURL(user, host, port, name, d), Password: token, Source: "iam"}, nil
}

// buildURL is a secret or IAM connection's URL, with d's TLS and RDS Proxy settings.
func buildURL(user, host string, port int, dbname string, d config.Database) string {
	q := url.Values{}
	q.Set("sslmode", firstNonEmpty(d.SSLMode, "verify-full"))
	if d.SSLRootCert != "" {
		q.Set("sslrootcert", d.SSLRootCert)
	}
	addProxyMode(q, d.RDSProxy)
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + dbname,
		RawQuery: q.Encode(),
	}
	return u.String()
}

func addProxyMode(q url.Values, proxy bool) {
	if proxy && q.Get("default_query_exec_mode") == "" {
		q.Set("default_query_exec_mode", QueryExecModeRDSProxy)
	}
}

// cachedPassword re-reads a password at most once per ttl.
type cachedPassword struct {
	mu      sync.Mutex
	ttl     time.Duration
	value   string
	fetched time.Time
	refresh func(context.Context) (string, error)
}

func (c *cachedPassword) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.fetched) < c.ttl {
		return c.value, nil
	}
	v, err := c.refresh(ctx)
	if err != nil {
		return "", err
	}
	c.value, c.fetched = v, time.Now()
	return v, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
