// Package sealtest runs local-kms, the stand-in for AWS KMS, for tests of credential sealing.
package sealtest

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/awsapi"
	"github.com/switchyard-ai/switchyard/shared/lambda/lambdatest"
)

// Region is the region local-kms serves.
const Region = "eu-west-2"

// LocalKMS is one local-kms process.
type LocalKMS struct {
	Endpoint string // http://127.0.0.1:PORT
	// Client is the functions' own KMS client (package awsapi) configured by Env.
	Client *awsapi.KMS
}

// Env is what a child process needs to reach this KMS (see package awsapi): the endpoint, the
// region and dummy credentials.
func (l *LocalKMS) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_KMS=" + l.Endpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
	}
}

// CreateKey creates a symmetric key and returns its ARN.
func (l *LocalKMS) CreateKey(ctx context.Context, t testing.TB) string {
	t.Helper()
	arn, err := l.Client.CreateKey(ctx, "switchyard test key")
	if err != nil {
		t.Fatalf("local-kms CreateKey: %v", err)
	}
	return arn
}

// Start runs github.com/nsmithuk/local-kms (a go.mod tool) on a free port until the test ends.
func Start(t testing.TB) *LocalKMS {
	t.Helper()
	bin := lambdatest.Tool(t, "local-kms")
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"PORT=0",
		"KMS_REGION="+Region,
		"KMS_DATA_PATH="+filepath.Join(dir, "data"),
		"KMS_SEED_PATH="+filepath.Join(dir, "no-seed.yaml"),
	)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting local-kms: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	started := regexp.MustCompile(`Local KMS started on [0-9.]+:(\d+)`)
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := started.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
			}
		}
	}()
	select {
	case p := <-port:
		l := &LocalKMS{Endpoint: "http://127.0.0.1:" + p}
		// The settings Env gives a function, as package config would read them.
		l.Client = &awsapi.KMS{Config: awsapi.Config{Region: Region, Credentials: awsapi.StaticCredentials("local", "local", ""),
			Endpoints: map[string]string{"KMS": l.Endpoint}}}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("local-kms did not say which port it listens on within 30s")
		return nil
	}
}
