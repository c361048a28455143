package awsconf

import (
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

// DatabaseFromEnv resolves the database from the environment, first match wins:
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
func DatabaseFromEnv(ctx context.Context, getenv func(string) string, c Clients) (Database, error) {
	proxy, err := boolEnv(getenv, EnvDatabaseRDSProxy)
	if err != nil {
		return Database{}, err
	}
	if raw := strings.TrimSpace(getenv(EnvDatabaseURL)); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return Database{}, fmt.Errorf("%s is not a postgres:// URL", EnvDatabaseURL)
		}
		q := u.Query()
		addProxyMode(q, proxy)
		u.RawQuery = q.Encode()
		return Database{URL: u.String(), Source: EnvDatabaseURL}, nil
	}
	if arn := strings.TrimSpace(getenv(EnvDatabaseSecretARN)); arn != "" {
		return databaseFromSecret(ctx, getenv, c, arn, proxy)
	}
	iam, err := boolEnv(getenv, EnvDatabaseIAM)
	if err != nil {
		return Database{}, err
	}
	if iam {
		return databaseFromIAM(getenv, c, proxy)
	}
	return Database{}, fmt.Errorf("no database configured: set %s, %s, or %s=true with %s and %s",
		EnvDatabaseURL, EnvDatabaseSecretARN, EnvDatabaseIAM, EnvDatabaseHost, EnvDatabaseUser)
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

func databaseFromSecret(ctx context.Context, getenv func(string) string, c Clients, arn string, proxy bool) (Database, error) {
	if c.Secrets == nil {
		return Database{}, fmt.Errorf("%s is set but no Secrets Manager client was given", EnvDatabaseSecretARN)
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
	host := firstNonEmpty(getenv(EnvDatabaseHost), sec.Host)
	if host == "" {
		return Database{}, fmt.Errorf("no database host: the secret %s has no host (the secret RDS manages holds only username and password) and %s is empty; set the DatabaseHost parameter (%s) to the database or RDS Proxy endpoint", arn, EnvDatabaseHost, EnvDatabaseHost)
	}
	if p := strings.TrimSpace(getenv(EnvDatabasePort)); p != "" {
		if port, err = parsePort(p); err != nil {
			return Database{}, err
		}
	}
	name := firstNonEmpty(getenv(EnvDatabaseName), sec.DBName, "postgres")
	u := buildURL(sec.Username, host, port, name, getenv(EnvDatabaseSSLMode), getenv(EnvDatabaseSSLRootCert), proxy)

	cached := &cachedPassword{ttl: 5 * time.Minute, value: sec.Password, fetched: time.Now(), refresh: func(ctx context.Context) (string, error) {
		s, _, err := read(ctx)
		return s.Password, err
	}}
	return Database{URL: u, Password: cached.get, Source: "secret"}, nil
}

func databaseFromIAM(getenv func(string) string, c Clients, proxy bool) (Database, error) {
	host, user := strings.TrimSpace(getenv(EnvDatabaseHost)), strings.TrimSpace(getenv(EnvDatabaseUser))
	if host == "" || user == "" {
		return Database{}, fmt.Errorf("%s=true needs %s and %s", EnvDatabaseIAM, EnvDatabaseHost, EnvDatabaseUser)
	}
	port := 5432
	if p := getenv(EnvDatabasePort); p != "" {
		var err error
		if port, err = parsePort(p); err != nil {
			return Database{}, err
		}
	}
	if c.Config.Region == "" || c.Config.Credentials == nil {
		return Database{}, fmt.Errorf("%s=true needs AWS credentials and a region (AWS_REGION)", EnvDatabaseIAM)
	}
	name := firstNonEmpty(getenv(EnvDatabaseName), "postgres")
	endpoint := net.JoinHostPort(host, strconv.Itoa(port))
	region, creds := c.Config.Region, c.Config.Credentials
	token := func(ctx context.Context) (string, error) {
		t, err := auth.BuildAuthToken(ctx, endpoint, region, user, creds)
		if err != nil {
			return "", fmt.Errorf("building an RDS IAM token for %s@%s: %w", user, endpoint, err)
		}
		return t, nil
	}
	return Database{URL: buildURL(user, host, port, name, getenv(EnvDatabaseSSLMode), getenv(EnvDatabaseSSLRootCert), proxy), Password: token, Source: "iam"}, nil
}

func buildURL(user, host string, port int, dbname, sslmode, sslrootcert string, proxy bool) string {
	q := url.Values{}
	q.Set("sslmode", firstNonEmpty(sslmode, "verify-full"))
	if root := strings.TrimSpace(sslrootcert); root != "" {
		q.Set("sslrootcert", root)
	}
	addProxyMode(q, proxy)
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

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port number", EnvDatabasePort, s)
	}
	return n, nil
}

func boolEnv(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
