package awsconf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/config"
)

// AdminToken returns the bootstrap super admin's token: from the Secrets Manager secret secretARN
// (SWITCHYARD_ADMIN_TOKEN_SECRET_ARN) when set (its string, or the "token" field of a JSON object),
// otherwise token (SWITCHYARD_ADMIN_TOKEN). An empty result with a nil error means none was
// configured (local runs generate one).
func AdminToken(ctx context.Context, secretARN, token string, c Clients) (string, error) {
	arn := secretARN
	if arn == "" {
		return token, nil
	}
	if c.Secrets == nil {
		return "", fmt.Errorf("%s is set but no Secrets Manager client was given", config.EnvAdminTokenSecretARN)
	}
	out, err := c.Secrets.GetSecretValue(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("reading the admin token secret %s: %w", arn, err)
	}
	tok, err := parseAdminTokenSecret(out)
	if err != nil {
		return "", fmt.Errorf("admin token secret %s: %w", arn, err)
	}
	return tok, nil
}

func parseAdminTokenSecret(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var v struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return "", errors.New("the secret looks like JSON but does not parse")
		}
		s = strings.TrimSpace(v.Token)
	}
	if s == "" {
		return "", errors.New(`the secret is empty (want the token, or {"token": "..."})`)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return "", errors.New("the token contains whitespace")
	}
	return s, nil
}
