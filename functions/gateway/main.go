// Command gateway is the Lambda function behind /v1/* (plain and streamed) and /healthz. Outside
// Lambda it serves the same handler on SWITCHYARD_ADDR (default 127.0.0.1:8080).
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
		log.Error("gateway: configuration", "err", err)
		os.Exit(1)
	}
	defer a.Shutdown()
	err = lambda.RunLocalOrLambda(ctx, a.GatewayHandler(), app.Addr("127.0.0.1:8080"), nil,
		lambda.WithLogger(log), lambda.BeforeReturn(a.Flush))
	if err != nil {
		log.Error("gateway stopped", "err", err)
		os.Exit(1)
	}
}
