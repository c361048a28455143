package app

import (
	"cmp"
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchyard-ai/switchyard/shared/basepath"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/lambda"
)

// ServeFunction is an HTTP function's whole main: it reads the configuration (package config), builds
// the App and serves handler(app) through the Lambda runtime in Lambda, or on SWITCHYARD_ADDR
// (defaultAddr when unset) elsewhere, until SIGTERM or Ctrl-C. Queued request-log rows are written
// before each invocation returns and at exit. It exits the process with status 1 on failure.
func ServeFunction(name, defaultAddr string, handler func(*App) http.Handler) {
	c, err := config.FromEnvironment()
	log := NewLogger(c.LogLevel).With("function", name)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a, err := FromConfig(ctx, c, log)
	if err != nil {
		stop()
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	h := handler(a)
	if !c.InLambda {
		// Locally nothing in front strips the public base path: serve under it, as a stage would.
		prefix, _ := basepath.Clean(a.Config.PublicBasePath) // config.Load checked it
		h = basepath.Strip(prefix, h)
	}
	err = lambda.RunLocalOrLambda(ctx, h, c.InLambda, cmp.Or(c.Addr, defaultAddr), nil, lambda.WithLogger(log), lambda.BeforeReturn(a.Flush))
	stop()
	a.Shutdown()
	if err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
}
