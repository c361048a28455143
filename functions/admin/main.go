// Command admin is the Lambda function behind /admin/*, /console/* and /healthz. Outside Lambda it
// serves the same handler on SWITCHYARD_ADDR (default 127.0.0.1:8081).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/lambda"
)

func main() {
	log := app.NewLogger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.FromEnv(ctx, log, lambda.IsLambda())
	if err != nil {
		log.Error("admin: configuration", "err", err)
		os.Exit(1)
	}
	defer a.Shutdown()
	err = lambda.RunLocalOrLambda(ctx, a.AdminFunctionHandler(), app.Addr("127.0.0.1:8081"), nil,
		lambda.WithLogger(log), lambda.BeforeReturn(a.Flush))
	if err != nil {
		log.Error("admin stopped", "err", err)
		os.Exit(1)
	}
}
