package lambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
)

// Serve runs h as the Lambda function's handler for streamed API Gateway REST API proxy events (see
// Handler) and never returns: aws-lambda-go exits the process when the runtime API fails. ctx becomes
// the base of every invocation's context. Call it only under a Lambda runtime.
func Serve(ctx context.Context, h http.Handler, opts ...Option) {
	awslambda.StartHandlerFunc(Handler(h, opts...), awslambda.WithContext(ctx))
}

// RunLocalOrLambda serves h the way the process was started: under a Lambda runtime (inLambda: the
// configuration saw AWS_LAMBDA_RUNTIME_API) it calls Serve and never returns; otherwise it serves h on
// addr as a plain HTTP server until ctx is done, then shuts down gracefully (in-flight requests get up
// to 10 seconds) and returns nil. ready, when not nil, is called with the bound address once the
// server listens (useful with addr "127.0.0.1:0").
func RunLocalOrLambda(ctx context.Context, h http.Handler, inLambda bool, addr string, ready func(net.Addr), opts ...Option) error {
	if inLambda {
		Serve(ctx, h, opts...)
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := NewServer(h, LocalTimeouts)
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		slog.WarnContext(ctx, "graceful shutdown did not finish", "addr", ln.Addr().String(), "err", err)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Timeouts bound what a slow client can hold of a local server (NewServer).
type Timeouts struct {
	ReadHeader time.Duration // from the connection's first byte to the end of the request's headers
	Read       time.Duration // from the first byte to the end of the request body
	Idle       time.Duration // a kept-alive connection waiting for its next request
}

// LocalTimeouts are the local server's. There is no write timeout: a streamed chat completion may
// run for minutes and http.Server's WriteTimeout would cut it; the read timeouts do not (the server
// clears the read deadline once the request body has been read).
var LocalTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Idle: 2 * time.Minute}

// NewServer is the HTTP server that serves h outside Lambda (make dev, the functions run locally): a
// client sending its headers or its body slowly (slowloris) is cut off after t.ReadHeader or t.Read,
// an idle kept-alive connection after t.Idle.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, IdleTimeout: t.Idle}
}
