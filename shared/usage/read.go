package usage

import (
	"errors"
	"time"
)

// The request log as the admin API and the console read it back: totals, the chart's buckets, pages
// of requests and a route's split. The JSON tags are the admin API's.

// GroupBy is a column usage totals can be grouped by.
type GroupBy string

// The groupings SPEC allows.
const (
	GroupByModel    GroupBy = "model"
	GroupByProvider GroupBy = "provider"
	GroupByKey      GroupBy = "key"
	GroupByTeam     GroupBy = "team"
	// GroupByOutcome counts each outcome ("ok", or the error code the caller got: capacity_exceeded,
	// rate_limited_local, an upstream's rate_limited, ...) as its own group.
	GroupByOutcome GroupBy = "outcome"
)

// ValidGroupBy reports whether g is one of the groupings.
func ValidGroupBy(g GroupBy) bool {
	switch g {
	case GroupByModel, GroupByProvider, GroupByKey, GroupByTeam, GroupByOutcome:
		return true
	}
	return false
}

// Total is one group's totals over a time range.
type Total struct {
	Group            string `json:"group"`
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
}

// Point is one time bucket of the request log: what the console's usage chart draws.
type Point struct {
	At       time.Time
	Requests int64
	Errors   int64
	Tokens   int64
}

// RequestRow is one entry of the request log.
type RequestRow struct {
	RequestID        string    `json:"request_id"`
	At               time.Time `json:"at"`
	Route            string    `json:"route"`
	KeyID            string    `json:"key_id"`
	Team             string    `json:"team"`
	Requested        string    `json:"requested"`
	Model            string    `json:"model"`
	Provider         string    `json:"provider"`
	Outcome          string    `json:"outcome"`
	Detail           string    `json:"detail"`
	Status           int       `json:"status"`
	Stream           bool      `json:"stream"`
	LatencyMS        float64   `json:"latency_ms"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	TotalTokens      int64     `json:"total_tokens"`
	Message          string    `json:"message"`
	// Attempt numbers a request's upstream attempts from 1; the rows of one request (one per
	// attempt when it fell back to another model) share ChainID, the request id its caller was told.
	Attempt int    `json:"attempt"`
	ChainID string `json:"chain_id"`
}

// RequestQuery selects a page of the request log, whose order is newest first (by time, then by
// the order rows were written). After and Before are request ids of an earlier page, at most one of
// them: After continues past it to older requests, Before goes back to the newer ones just before it.
// Keyset paging keeps pages stable while new requests arrive.
type RequestQuery struct {
	Outcome string // only requests with this outcome when set
	Limit   int
	After   string
	Before  string
}

// ErrRequestNotFound is a page's cursor naming a request the log does not hold.
var ErrRequestNotFound = errors.New("request not found")

// RouteShare is one model's part of the requests for one name over a period.
type RouteShare struct {
	Model    string `json:"model"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
}
