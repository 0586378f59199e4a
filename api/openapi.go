package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of the query service, served at
// GET /openapi.json. The tests hold it to the routes the server registers
// and to the responses its handlers give.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI answers the OpenAPI document; it needs no token, as it
// describes the service and holds no data.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}
