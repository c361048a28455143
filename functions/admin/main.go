// Command admin is the Lambda function behind /admin/*, /console/* and /healthz. Outside Lambda it
// serves the same handler on SWITCHYARD_ADDR (default 127.0.0.1:8081).
package main

import "github.com/switchyard-ai/switchyard/shared/app"

func main() {
	app.ServeFunction("admin", "127.0.0.1:8081", (*app.App).AdminFunctionHandler)
}
