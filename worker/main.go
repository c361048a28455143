// Command worker is Switchyard's River worker: it embeds written documents into every live index and
// runs re-embeds. In Lambda each invocation (the one-minute schedule, or a kick after documents were
// written or a re-embed started) works until the queue has nothing for it, at most for a bounded time,
// and hands running jobs back before its deadline; elsewhere it is a long-lived process that stops on
// SIGTERM or Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/switchyard-ai/switchyard/shared/app"
	"github.com/switchyard-ai/switchyard/shared/config"
	"github.com/switchyard-ai/switchyard/shared/workerlambda"
)

func main() {
	c, err := config.FromEnvironment()
	log := app.NewLogger(c.LogLevel)
	if err != nil {
		log.Error("worker: configuration", "err", err)
		os.Exit(1)
	}
	// run returns before the exit, so its deferred shutdown (the request log, the pool) always runs.
	if err := run(c, log); err != nil {
		log.Error("worker", "err", err)
		os.Exit(1)
	}
}

func run(c config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.FromConfig(ctx, c, log, func(c *app.Config) { c.Worker = true })
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	defer a.Shutdown()

	if c.InLambda {
		awslambda.StartWithOptions(func(ctx context.Context, ev json.RawMessage) error {
			var kick workerlambda.Kick
			_ = json.Unmarshal(ev, &kick)
			w, ok := workerlambda.WindowFromContext(ctx)
			if !ok {
				w = workerlambda.WindowFor(time.Now(), time.Now().Add(time.Minute))
			}
			log.Info("worker invocation", "source", kick.Source, "reason", kick.Reason, "stop_fetching", w.StopFetching)
			return a.Corpora.RunFor(ctx, w.Deadline, w.Deadline.Sub(w.StopFetching), workerlambda.Linger(kick))
		}, awslambda.WithContext(ctx))
		return nil
	}

	if err := a.Corpora.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	log.Info("worker started")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Corpora.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}
