package lambdatest

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func event(method, path, body string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{
		HTTPMethod: method,
		Path:       path,
		Body:       body,
		MultiValueHeaders: map[string][]string{
			"Host":         {"abc.execute-api.eu-west-1.amazonaws.com"},
			"Content-Type": {"application/json"},
		},
		MultiValueQueryStringParameters: map[string][]string{"tag": {"x", "y"}},
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "apigw-req-7",
			Stage:     "prod",
			Path:      "/prod" + path,
			Identity:  events.APIGatewayRequestIdentity{SourceIP: "198.51.100.4"},
		},
	}
}

// TestEchoUnderTheEmulator serves the testdata/echo main through the real runtime protocol.
func TestEchoUnderTheEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs aws-lambda-rie")
	}
	bootstrap := Build(t, "./shared/lambda/testdata/echo")
	info, err := os.Stat(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	e := Start(t, bootstrap, "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Cold start: the emulator starts the bootstrap when the first event arrives.
	start := time.Now()
	health, err := e.InvokeStream(ctx, event("GET", "/healthz", ""))
	firstAnswer := time.Since(start)
	if err != nil {
		t.Fatalf("first invoke: %v\n%s", err, e.Logs())
	}
	if health.StatusCode != 200 || string(health.Body) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %q", health.StatusCode, health.Body)
	}
	warmStart := time.Now()
	if _, err := e.InvokeStream(ctx, event("GET", "/healthz", "")); err != nil {
		t.Fatal(err)
	}
	warm := time.Since(warmStart)
	t.Logf("echo bootstrap: %.1f MB; first answer %v after the first event (process start included); warm answer %v",
		float64(info.Size())/(1<<20), firstAnswer.Round(100*time.Microsecond), warm.Round(100*time.Microsecond))
	if info.Size() > 20<<20 {
		t.Errorf("bootstrap is %d bytes, over the 20 MB budget", info.Size())
	}

	t.Run("plain request", func(t *testing.T) {
		r, err := e.InvokeStream(ctx, event("POST", "/echo/x", `{"hello":"world"}`))
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != 202 || r.Header("Content-Type") != "application/json" {
			t.Errorf("status %d, content type %q", r.StatusCode, r.Header("Content-Type"))
		}
		if got := r.MultiValueHeaders["Set-Cookie"]; len(got) != 2 {
			t.Errorf("Set-Cookie = %v, want two", got)
		}
		var got struct {
			Method, Path, Body, Remote string
			Query                      map[string][]string
			RequestID                  string `json:"request_id"`
		}
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatalf("body %q: %v", r.Body, err)
		}
		if got.Method != "POST" || got.Path != "/echo/x" || got.Body != `{"hello":"world"}` ||
			got.RequestID != "apigw-req-7" || got.Remote != "198.51.100.4:0" || len(got.Query["tag"]) != 2 {
			t.Errorf("echo = %+v", got)
		}
	})

	t.Run("streamed SSE response", func(t *testing.T) {
		raw, err := e.Invoke(ctx, event("POST", "/v1/chat/completions", `{"stream":true}`))
		if err != nil {
			t.Fatal(err)
		}
		// The classic emulator answers application/octet-stream whatever content type the runtime
		// gave (ContentTypeStreaming), so only the body's shape can be checked here.
		r, err := ParseStream(raw.Body)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != 200 || r.Header("Content-Type") != "text/event-stream" {
			t.Errorf("status %d, content type %q", r.StatusCode, r.Header("Content-Type"))
		}
		want := "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\ndata: [DONE]\n\n"
		if string(r.Body) != want {
			t.Errorf("body = %q, want %q", r.Body, want)
		}
	})

	t.Run("unknown route", func(t *testing.T) {
		r, err := e.InvokeStream(ctx, event("GET", "/nope", ""))
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != 404 || !strings.Contains(string(r.Body), "404") {
			t.Errorf("got %d %q", r.StatusCode, r.Body)
		}
	})
}

// An invocation that gets no answer fails within its own deadline, whatever the caller's context
// allows, and the error shows where the function was stuck.
func TestStuckInvocationSaysWhatTheFunctionWasDoing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs aws-lambda-rie")
	}
	e := Start(t, Build(t, "./shared/lambda/testdata/echo"))
	e.InvokeTimeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.InvokeStream(ctx, event("GET", "/healthz", "")); err != nil {
		t.Fatalf("healthz: %v", err)
	}
	start := time.Now()
	_, err := e.Invoke(ctx, event("GET", "/hang", ""))
	if err == nil {
		t.Fatal("an invocation that never answers returned no error")
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the stuck invocation failed after %v; want its 3s deadline to end it", took)
	}
	for _, want := range []string{"no answer after", "main.waitForever", "goroutine "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not show %q:\n%v", want, err)
		}
	}
}

// TestColdStart measures, over fresh emulators, the time from the first event (the emulator then
// starts the bootstrap process) to the first answer. The goal is 60 ms; the check here is a
// loose regression guard, since this machine is shared.
func TestColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs aws-lambda-rie")
	}
	bootstrap := Build(t, "./shared/lambda/testdata/echo")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var samples []time.Duration
	for range 5 {
		e := Start(t, bootstrap)
		start := time.Now()
		r, err := e.InvokeStream(ctx, event("GET", "/healthz", ""))
		took := time.Since(start)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("cold invoke: %v %+v", err, r)
		}
		samples = append(samples, took)
		e.Stop()
	}
	slices.Sort(samples)
	t.Logf("cold start (first event to first answer) over %d runs: min %v, median %v, max %v",
		len(samples), samples[0].Round(100*time.Microsecond), samples[len(samples)/2].Round(100*time.Microsecond), samples[len(samples)-1].Round(100*time.Microsecond))
	if median := samples[len(samples)/2]; median > time.Second {
		t.Errorf("median cold start %v is over a second", median)
	}
}
