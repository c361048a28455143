package gateway

import (
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// ModelHeader names, on every answer that reached a model, the pinned model the route picked.
const ModelHeader = "X-Switchyard-Model"

// routeRequest is what routing reads of one request: the key, the tag and session headers, and
// the body's OpenAI "user" field, read only when a rule of the route asks for it.
func (c *call) routeRequest(key *catalog.Key, user string) catalog.RouteRequest {
	return catalog.RouteRequest{
		Key:       key,
		Header:    c.r.Header.Get,
		Session:   c.r.Header.Get(catalog.SessionHeader),
		User:      func() string { return user },
		RequestID: c.row.RequestID,
	}
}
