package console

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/usage"
)

// chartSVG draws requests (bars, errors in red on top) and tokens (a line on its own scale) over
// time as inline SVG, on the server, so the usage page needs no script and no library. Every
// value drawn is a number or a label formatted here; nothing from a request reaches the markup
// unescaped.
func chartSVG(points []usage.Point, step time.Duration) string {
	const (
		w, h          = 960.0, 260.0
		left, right   = 56.0, 64.0
		top, bottom   = 16.0, 36.0
		plotW, plotH  = w - left - right, h - top - bottom
		gridLines     = 4
		colorOK       = "#2457c5"
		colorErr      = "#d92d20"
		colorTokens   = "#0b6e79"
		colorGrid     = "#e3e7ee"
		colorAxisText = "#647084"
	)
	var maxReq, maxTok int64
	for _, p := range points {
		maxReq = max(maxReq, p.Requests)
		maxTok = max(maxTok, p.Tokens)
	}
	reqTop, tokTop := niceTop(maxReq, gridLines), niceTop(maxTok, gridLines)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="Requests and tokens over time" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">`, w, h)
	for i := 0; i <= gridLines; i++ {
		y := top + plotH - plotH*float64(i)/gridLines
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>`, left, left+plotW, y, y, colorGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="%s">%s</text>`, left-6, y+4, colorOK, fmtNum(reqTop*int64(i)/gridLines))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`, left+plotW+6, y+4, colorTokens, shortNum(tokTop*int64(i)/gridLines))
	}
	n := len(points)
	if n == 0 {
		b.WriteString(`</svg>`)
		return b.String()
	}
	slot := plotW / float64(n)
	barW := max(slot*0.7, 1)
	var line []string
	labelEvery := max(1, n/8)
	for i, p := range points {
		x := left + slot*float64(i) + (slot-barW)/2
		if p.Requests > 0 {
			hOK := plotH * float64(p.Requests-p.Errors) / float64(reqTop)
			hErr := plotH * float64(p.Errors) / float64(reqTop)
			title := html.EscapeString(fmt.Sprintf("%s: %d requests, %d errors, %d tokens", p.At.UTC().Format("Jan 2 15:04"), p.Requests, p.Errors, p.Tokens))
			fmt.Fprintf(&b, `<g><title>%s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/></g>`,
				title, x, top+plotH-hOK, barW, hOK, colorOK, x, top+plotH-hOK-hErr, barW, hErr, colorErr)
		}
		cx := left + slot*float64(i) + slot/2
		cy := top + plotH - plotH*float64(p.Tokens)/float64(tokTop)
		line = append(line, fmt.Sprintf("%.1f,%.1f", cx, cy))
		if i%labelEvery == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">%s</text>`, cx, h-bottom+16, colorAxisText, tickLabel(p.At, step))
		}
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(line, " "), colorTokens)
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>`, left, left+plotW, top+plotH, top+plotH, colorAxisText)
	b.WriteString(`</svg>`)
	return b.String()
}

// niceTop is the top of an axis with ticks gridlines apart: ticks times a round step (1, 2 or 5
// times a power of ten), at least v, so every grid label is a round number.
func niceTop(v int64, ticks int64) int64 {
	need := max((v+ticks-1)/ticks, 1)
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= need {
				return m * p * ticks
			}
		}
	}
}

func shortNum(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmtNum(n)
}

func tickLabel(t time.Time, step time.Duration) string {
	t = t.UTC()
	if step >= 6*time.Hour {
		return t.Format("Jan 2")
	}
	return t.Format("15:04")
}
