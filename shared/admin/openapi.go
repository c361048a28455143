package admin

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPI is the admin API's OpenAPI 3.1 document. A test checks it against the served routes
// both ways, so it lists exactly what is served.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPI)))
	_, _ = w.Write(openAPI)
}
