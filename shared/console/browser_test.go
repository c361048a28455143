package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's Chromium, headless, through chromedp. They never skip: without
// Chromium they fail and say how to install it.

const chromiumHelp = "Chromium is not installed; the console's browser tests need it. Install it with `infra/chromium.sh` " +
	"(as root; it runs apt-get install chromium), or set SWITCHYARD_CHROMIUM to a Chromium or Chrome binary"

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SWITCHYARD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SWITCHYARD_CHROMIUM=%s: %v. %s", p, err, chromiumHelp)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal(chromiumHelp)
	return ""
}

// browser starts a fresh headless Chromium with its own profile. The flags keep it from dialing
// anything but the test server (this machine's network refuses Chromium's background connections).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	// Every page records what its Content-Security-Policy blocked, so shot can fail on it: the
	// pages must work under their own policy (no inline script or style).
	watch := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`})
		return chromedp.Void{}, err
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), watch); err != nil {
		t.Fatalf("start Chromium: %v. %s", err, chromiumHelp)
	}
	return ctx
}

// shotsDir is where screenshots go: SWITCHYARD_SCREENSHOTS, or a folder in the temp dir.
func shotsDir(t *testing.T) string {
	d := os.Getenv("SWITCHYARD_SCREENSHOTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "switchyard-console-shots")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("screenshots folder: %v", err)
	}
	return d
}

// tab is one browser tab on a test server, with the test's helpers.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// step bounds one browser step, so a missing element fails the test in seconds, not minutes.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 15*time.Second)
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// open loads a console path and waits for its main heading.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// submit clicks sel and waits for the page it loads.
//
// The page being left is marked first, and the next page counts as loaded when a document without
// the mark is complete: waiting for a load event instead took the page's own, when a loaded machine
// was still fetching its assets at the click, and read the old page as the next one.
func (b *tab) submit(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void]("window.__leaving = true"), chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v (at %s)", sel, err, b.location())
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Mid-navigation the evaluation may fail or still see the old document: look again.
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__leaving === undefined && document.readyState === "complete"`))
		if err == nil && loaded {
			break
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("click %s and wait for the next page: %v (at %s)", sel, ctx.Err(), b.location())
		case <-tick.C:
		}
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v (at %s)", sel, err, b.location())
	}
	return s
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read the value of %s: %v", sel, err)
	}
	return s
}

// count is how many elements match sel right now.
func (b *tab) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *tab) fill(sel, v string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS(sel), v))
}

// send fills a form and presses its button: fields are selector and value pairs, filled in order,
// then button is clicked and the page it loads waited for, as submit does.
func (b *tab) send(button string, fields ...string) {
	b.t.Helper()
	if len(fields)%2 != 0 {
		b.t.Fatalf("send %s: fields come in selector and value pairs, got %q", button, fields)
	}
	for i := 0; i < len(fields); i += 2 {
		b.fill(fields[i], fields[i+1])
	}
	b.submit(button)
}

// notice fails unless the page's notice banner (what a form that was accepted shows) holds every
// one of subs.
func (b *tab) notice(subs ...string) {
	b.t.Helper()
	b.wants(".banner.notice", subs...)
}

// wants fails unless the text of sel holds every one of subs.
func (b *tab) wants(sel string, subs ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, s := range subs {
		if !strings.Contains(got, s) {
			b.t.Errorf("%s should say %q; it says:\n%s", sel, s, got)
		}
	}
}

func (b *tab) shot(name string) {
	b.t.Helper()
	if blocked, _ := chromedp.Run(b.ctx, chromedp.Evaluate[[]string]("window.__csp || []")); len(blocked) > 0 {
		b.t.Errorf("%s: the page's Content-Security-Policy blocked %v", name, blocked)
	}
	// From the top, as a person first sees the page (a #fragment may have scrolled it).
	b.do(chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)"))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(shotsDir(b.t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatalf("write %s: %v", p, err)
	}
	b.t.Logf("screenshot %s", p)
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.open("/console/signin")
	b.send("#signin-form button[type=submit]", "#token", token)
}

// signedInTab is a new browser tab on the console at base, signed in with token.
func signedInTab(t *testing.T, base, token string) *tab {
	t.Helper()
	b := &tab{t: t, ctx: browser(t), base: base}
	b.signIn(token)
	return b
}

// choose selects value in a <select> and fires change, as a person's pick does.
func (b *tab) choose(sel, value string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value; })()`, sel, value)
	ctx, cancel := b.step()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil || got != value {
		b.t.Fatalf("choose %q in %s: got %q, %v", value, sel, got, err)
	}
}

// attr reads an attribute of the first element matching sel ("" when absent).
func (b *tab) attr(sel, name string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name)))
	if err != nil {
		b.t.Fatalf("read %s of %s: %v", name, sel, err)
	}
	return v
}

// overflow is how many pixels the content of sel is wider than sel shows (0 when it fits).
func (b *tab) overflow(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e.scrollWidth - e.clientWidth; })()`, sel)))
	if err != nil {
		b.t.Fatalf("measure %s: %v", sel, err)
	}
	return n
}

// streamChat, on the playground with a key in its field, loads the models the key may use (the list
// must show each of listed), picks model and sends a streamed chat message: the reply must arrive in
// several chunks and answer 200.
func (b *tab) streamChat(model string, listed ...string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS("#pg-load")))
	b.do(chromedp.WaitEnabled(chromedp.CSS("#pg-model")))
	b.wants("#pg-model", listed...)
	b.choose("#pg-model", model)
	b.do(chromedp.Click(chromedp.CSS("#pg-send")))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#pg-answer[data-done="1"]`)))
	if answer := b.text("#pg-answer"); strings.TrimSpace(answer) == "" {
		b.t.Errorf("the chat reply should be streamed into the page; it is empty")
	}
	if chunks := b.attr("#pg-answer", "data-chunks"); chunks == "" || chunks == "1" {
		b.t.Errorf("the reply should arrive as several stream chunks; it came in %q", chunks)
	}
	b.wants("#pg-status", "answered 200")
}
