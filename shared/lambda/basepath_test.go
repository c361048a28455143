package lambda

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/switchyard-ai/switchyard/shared/basepath"
)

// The public base path the console writes in front of its URLs comes from the event: the stage on
// API Gateway's default URL, a custom domain's base path mapping (which API Gateway leaves in path),
// nothing on a custom domain without one; never something that could break out of a page.
func TestNewRequestBasePath(t *testing.T) {
	proxy := func(path, resource string, params map[string]string, full string) *events.APIGatewayProxyRequest {
		e := restEvent("GET", path)
		e.Resource, e.PathParameters, e.RequestContext.Path = resource, params, full
		return e
	}
	tests := []struct {
		name       string
		event      *events.APIGatewayProxyRequest
		path, base string
	}{
		{"stage URL, console root", proxy("/console/", "/console", nil, "/prod/console/"), "/console/", "/prod"},
		{"stage URL, a console page", proxy("/console/teams/a", "/console/{proxy+}", map[string]string{"proxy": "teams/a"}, "/prod/console/teams/a"), "/console/teams/a", "/prod"},
		{"custom domain with a base path mapping", proxy("/switchyard/console/teams", "/console/{proxy+}", map[string]string{"proxy": "teams"}, "/switchyard/console/teams"), "/console/teams", "/switchyard"},
		{"custom domain with a base path mapping, console root with slash", proxy("/ai/gw/console/", "/console", nil, "/ai/gw/console/"), "/console/", "/ai/gw"},
		{"custom domain without a base path", proxy("/console/teams", "/console/{proxy+}", map[string]string{"proxy": "teams"}, "/console/teams"), "/console/teams", ""},
		{"a prefix that could break out of a page is dropped", proxy("/console/", "/console", nil, `/x"><script>/console/`), "/console/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRequest(context.Background(), tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if r.URL.Path != tt.path {
				t.Errorf("path = %q, want %q", r.URL.Path, tt.path)
			}
			if got := basepath.From(r.Context()); got != tt.base {
				t.Errorf("base path = %q, want %q", got, tt.base)
			}
		})
	}
}
