// Package basepath carries the public base path of a request: the part of the URL a browser sees in
// front of the paths Switchyard's handlers serve. Behind API Gateway's default URL it is the stage
// ("/prod" in https://id.execute-api.region.amazonaws.com/prod/console/); behind a custom domain it is
// the domain's base path mapping, or nothing. Handlers that write URLs into pages, redirects and
// cookies put it in front, so the browser comes back through the same stage.
//
// The Lambda adapter puts the prefix API Gateway removed into the request's context (With); the
// local server's Strip does the same for a prefix it serves under. Pages read it with From.
package basepath

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// Clean checks a base path and returns it without its trailing slash: "" and "/" give "" (no
// prefix), "/prod/" gives "/prod". A base path is "/"-separated segments of letters, digits and
// "-._~", none of them "." or "..": what API Gateway allows in stage names and base path mappings,
// and nothing that could end an HTML attribute, a header or a cookie attribute.
func Clean(p string) (string, error) {
	if p == "" || p == "/" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("base path %q must start with /", p)
	}
	clean := strings.TrimSuffix(p, "/")
	for _, seg := range strings.Split(clean[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("base path %q has an empty, . or .. segment", p)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
				return "", fmt.Errorf("base path %q may hold only letters, digits, -._~ and /", p)
			}
		}
	}
	return clean, nil
}

type ctxKey struct{}

// With returns ctx carrying base path p, which must have passed Clean.
func With(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From is the base path ctx carries: "" when none was set.
func From(ctx context.Context) string {
	p, _ := ctx.Value(ctxKey{}).(string)
	return p
}

// Strip serves h under prefix (which must have passed Clean) the way API Gateway serves a stage: a
// request for prefix+"/x" reaches h as "/x" with prefix as its base path; any other path is answered
// 404 without reaching h. With prefix "" it returns h.
func Strip(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFoundError, apierror.CodeNotFound, "",
				"This server serves everything under %s (SWITCHYARD_PUBLIC_BASE_PATH): try %s%s.", prefix, prefix, r.URL.Path))
			return
		}
		if rest == "" {
			rest = "/"
		}
		r2 := r.Clone(With(r.Context(), prefix))
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		if raw, ok := strings.CutPrefix(r.URL.RawPath, prefix); ok {
			r2.URL.RawPath = raw
		}
		r2.RequestURI = r2.URL.RequestURI()
		h.ServeHTTP(w, r2)
	})
}
