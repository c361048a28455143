package console

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/usage"
)

func TestNiceTopGivesRoundGridLabels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ v, want int64 }{{0, 4}, {3, 4}, {4, 4}, {5, 8}, {37, 40}, {50, 80}, {999, 2000}, {12000, 20000}} {
		if got := niceTop(tc.v, 4); got != tc.want {
			t.Errorf("niceTop(%d, 4) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

func TestChartDrawsOneBarPerBusyBucketAndEscapesNothingForeign(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pts := []usage.Point{{At: at, Requests: 3, Errors: 1, Tokens: 30}, {At: at.Add(time.Minute)}, {At: at.Add(2 * time.Minute), Requests: 1, Tokens: 5}}
	svg := chartSVG(pts, time.Minute)
	if n := strings.Count(svg, "<g><title>"); n != 2 {
		t.Errorf("want a bar group for each of the 2 busy buckets, got %d", n)
	}
	if !strings.Contains(svg, "3 requests, 1 errors, 30 tokens") {
		t.Errorf("a bar's title should say what it counts:\n%s", svg)
	}
	if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") {
		t.Errorf("not one svg element")
	}
}
