package lambdatest

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchyard-ai/switchyard/shared/lambda"
)

// Stage serves h the way API Gateway's default URL (https://id.execute-api.region.amazonaws.com/name/)
// serves a REST API stage whose Lambda proxy integrations stream, in-process: a request for
// /name/x becomes the proxy event API Gateway sends (path /x, resource /{proxy+}, requestContext.path
// /name/x, requestContext.stage name, the body in base64), lambda.Handler(h) answers it, and the
// streamed response is written back as it arrives. A request outside /name/ never reaches h: it is
// answered 403 {"message":"Forbidden"}, as API Gateway answers a path under a stage that does not
// exist. So a page served through Stage that links root-relative (/console/… instead of
// /name/console/…) breaks as it would in AWS.
func Stage(name string, h http.Handler, opts ...lambda.Option) http.Handler {
	fn := lambda.Handler(h, opts...)
	var n atomic.Int64
	prefix := "/" + name
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || (path != "" && path[0] != '/') {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-Errortype", "MissingAuthenticationTokenException")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"Forbidden"}`)
			return
		}
		if path == "" {
			path = "/"
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		ev := &events.APIGatewayProxyRequest{
			HTTPMethod:                      r.Method,
			Path:                            path,
			Resource:                        "/",
			Headers:                         map[string]string{},
			MultiValueHeaders:               map[string][]string{},
			QueryStringParameters:           map[string]string{},
			MultiValueQueryStringParameters: map[string][]string(r.URL.Query()),
			Body:                            base64.StdEncoding.EncodeToString(body),
			IsBase64Encoded:                 true,
			RequestContext: events.APIGatewayProxyRequestContext{
				Stage:        name,
				Path:         r.URL.Path,
				ResourcePath: "/",
				HTTPMethod:   r.Method,
				DomainName:   r.Host,
				RequestID:    "stage-" + strconv.FormatInt(n.Add(1), 10),
			},
		}
		if path != "/" {
			ev.Resource, ev.RequestContext.ResourcePath = "/{proxy+}", "/{proxy+}"
			ev.PathParameters = map[string]string{"proxy": path[1:]}
		}
		for k, vs := range r.Header {
			ev.Headers[k] = vs[len(vs)-1]
			ev.MultiValueHeaders[k] = vs
		}
		ev.Headers["Host"], ev.MultiValueHeaders["Host"] = r.Host, []string{r.Host}
		for k, vs := range ev.MultiValueQueryStringParameters {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
		}
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ev.RequestContext.Identity.SourceIP = ip
		}
		resp, err := fn(r.Context(), ev)
		if err != nil {
			http.Error(w, "the function failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		if c, ok := resp.Body.(io.Closer); ok {
			defer c.Close()
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		for k, vs := range resp.MultiValueHeaders {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		flusher, _ := w.(http.Flusher)
		buf := make([]byte, 32<<10)
		for {
			m, err := resp.Body.Read(buf)
			if m > 0 {
				if _, werr := w.Write(buf[:m]); werr != nil {
					return
				}
				if flusher != nil {
					flusher.Flush()
				}
			}
			if err != nil {
				return
			}
		}
	})
}
