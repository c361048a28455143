package gateway

import (
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// ModelHeader names, on every answer that reached a model, the pinned model the route picked.
const ModelHeader = "X-Switchyard-Model"

// routeRequest is what routing reads of one request: the key, the tag and session headers, and
// the body's OpenAI "user" field, read only when a rule of the route asks for it.
func (c *call) routeRequest(key *catalog.Key, body []byte) catalog.RouteRequest {
	return catalog.RouteRequest{
		Key:       key,
		Header:    c.r.Header.Get,
		Session:   c.r.Header.Get(catalog.SessionHeader),
		User:      func() string { return bodyUser(body) },
		RequestID: c.row.RequestID,
	}
}

// bodyUser is the top-level "user" string of an OpenAI body, or "" (absent, not a string, or a
// body that parseRequest has already refused).
func bodyUser(body []byte) string {
	var user string
	_, _ = scanDocument(body, false, func(m member) bool {
		if string(m.key) == "user" {
			user, _ = jsonString(body[m.valStart:m.valEnd])
			return false
		}
		return true
	})
	return user
}
