// Command migrate applies migrations/ and River's schema, then makes sure the bootstrap super admin
// exists. In Lambda it is the CloudFormation custom resource that runs on every deploy, before new
// code serves; elsewhere it is the deployment's migrate command: `go run ./functions/migrate`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/awsconf"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/postgres"
)

func main() {
	c, err := config.FromEnvironment()
	log := app.NewLogger(c.LogLevel)
	if err != nil {
		log.Error("migrate: configuration", "err", err)
		os.Exit(1)
	}
	if c.InLambda {
		awslambda.Start(cfn.LambdaWrap(func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
			const id = "switchyard-migrations"
			if ev.RequestType == cfn.RequestDelete {
				return id, nil, nil // the database outlives the stack's custom resource
			}
			return id, nil, migrate(ctx, c, log)
		}))
		return
	}
	if err := migrate(context.Background(), c, log); err != nil {
		log.Error("migrate failed", "err", err)
		os.Exit(1)
	}
}

func migrate(ctx context.Context, c config.Config, log *slog.Logger) error {
	clients := awsconf.NewClients(c.AWS)
	pool, err := app.OpenDatabase(ctx, c.Database, clients, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, log); err != nil {
		return err
	}
	token, err := awsconf.AdminToken(ctx, c.AdminTokenSecretARN, c.AdminToken, clients)
	if err != nil {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	if token == "" {
		log.Info("no bootstrap admin token given; the admins table is left as it is")
		return nil
	}
	return app.EnsureBootstrapAdmin(ctx, pool, token)
}
