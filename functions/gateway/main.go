// Command gateway is the Lambda function behind /v1/* (plain and streamed) and /healthz. Outside
// Lambda it serves the same handler on SWITCHYARD_ADDR (default 127.0.0.1:8080).
package main

import "github.com/switchyard-ai/switchyard/shared/app"

func main() {
	app.ServeFunction("gateway", "127.0.0.1:8080", (*app.App).GatewayHandler)
}
