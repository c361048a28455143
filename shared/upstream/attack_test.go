package upstream

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/logtest"
	"github.com/switchyard-ai/switchyard/shared/upstream/fakeupstream"
)

const leakyCredential = "sk-live/abc+def=ghi-1234567890"

// echoedForms are the credential as a leaky upstream echoes it.
var echoedForms = []string{leakyCredential, base64.StdEncoding.EncodeToString([]byte(leakyCredential)),
	base64.RawURLEncoding.EncodeToString([]byte(leakyCredential)), url.QueryEscape(leakyCredential), url.PathEscape(leakyCredential),
	strings.ToLower(url.QueryEscape(leakyCredential))}

const leakyMessage = "Key {credential} (Authorization: {authorization}; {credential_base64}; {credential_urlencoded}) " +
	"was refused by gpu-7.corp.internal at 10.1.2.3, see http://internal.example:8443/x"

// TestAttackVerificationStoresEchoedCredential has an upstream answer verification's GET /models
// with errors that echo the credential: the diagnostics (stored, shown in the console) and the
// server log hold none of its forms, and each diagnostic is bounded.
func TestAttackVerificationStoresEchoedCredential(t *testing.T) {
	up := fakeupstream.Start(fakeupstream.Config{Token: leakyCredential})
	defer up.Close()
	var logged logtest.Buffer // written by the client's goroutines
	c := testClient(t, Options{Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	p := provider(up.URL)
	p.Credential = leakyCredential
	long := leakyMessage + strings.Repeat(" and more", 500)
	for _, f := range []fakeupstream.Faults{
		{Status: 401, Message: leakyMessage},
		{Status: 403, Shape: fakeupstream.ShapeText, Message: long},
		{Status: 500, Shape: fakeupstream.ShapeVLLM, Message: leakyMessage},
		{Status: 404, Shape: fakeupstream.ShapeFastAPI, Message: leakyMessage},
		{Status: 400, Message: leakyMessage},
		{Status: 429, Message: leakyMessage},
		{Status: 302, Location: "https://login.corp.internal/sso?key={credential_urlencoded}", Message: leakyMessage},
	} {
		up.SetFaults(f)
		v := c.Verify(context.Background(), p)
		if v.Status != catalog.Failed || len(v.Diagnostics) == 0 {
			t.Fatalf("HTTP %d: verification %+v, want failed with a diagnostic", f.Status, v)
		}
		for _, d := range v.Diagnostics {
			for _, form := range echoedForms {
				if strings.Contains(d.Message, form) {
					t.Errorf("HTTP %d: diagnostic %s holds the credential as %q: %s", f.Status, d.Code, form, d.Message)
				}
			}
			if len(d.Message) > MaxStoredText {
				t.Errorf("HTTP %d: diagnostic %s is %d bytes long", f.Status, d.Code, len(d.Message))
			}
		}
		// What the operator needs stays: the upstream's own words, redacted.
		if f.Status == 401 && !strings.Contains(v.Diagnostics[0].Message, "was refused by gpu-7.corp.internal") {
			t.Errorf("the auth diagnostic lost the upstream's words: %s", v.Diagnostics[0].Message)
		}
		// A developer calling through the gateway sees Switchyard's message only.
		_, err := c.Send(context.Background(), p, http.MethodGet, "/models", nil, nil)
		if msg := APIError(err).Message; strings.Contains(msg, "gpu-7") || strings.Contains(msg, "sk-live") {
			t.Errorf("HTTP %d: the developer's message quotes the upstream: %s", f.Status, msg)
		}
	}
	log := logged.String()
	for _, form := range echoedForms {
		if strings.Contains(log, form) {
			t.Errorf("the server log holds the credential as %q:\n%s", form, log)
		}
	}
	if !strings.Contains(log, "[redacted]") {
		t.Errorf("the server log should keep the upstream's detail, redacted:\n%s", log)
	}
}

// TestAttackForDeveloperScrubs checks what of an upstream's 400 message reaches a developer.
func TestAttackForDeveloperScrubs(t *testing.T) {
	tests := []struct{ in, gone, kept string }{
		{"bad key " + leakyCredential, leakyCredential, "bad key"},
		{"header Authorization: Bearer abc.def.ghi was refused", "abc.def.ghi", "was refused"},
		{"basic auth Basic dXNlcjpwYXNz failed", "dXNlcjpwYXNz", "failed"},
		{"key sk-proj-1234567890abcdef is invalid", "sk-proj-1234567890abcdef", "is invalid"},
		{"token eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0 expired", "eyJhbGciOiJIUzI1NiJ9", "expired"},
		{"see http://internal.example:8443/x for help", "internal.example", "for help"},
		{"fetch from s3://bucket/key failed", "bucket", "failed"},
		{"worker 10.1.2.3:8000 is busy", "10.1.2.3", "is busy"},
		{"worker fd00:ec2::254 is busy", "fd00:ec2::254", "is busy"},
		{"worker [2001:db8::1]:443 is busy", "2001:db8::1", "is busy"},
		{"node gpu-7.corp.internal is full", "gpu-7.corp.internal", "is full"},
		{"node triton.svc is full", "triton.svc", "is full"},
		{"node vllm.default.svc.cluster.local is full", "vllm.default.svc.cluster.local", "is full"},
		{"backend llm-box:8080 refused", "llm-box:8080", "refused"},
		{"body.messages.0.content: Field required", "", "body.messages.0.content: Field required"},
		{"gpt-3.5-turbo supports 4096 tokens at 12:30:45", "", "gpt-3.5-turbo supports 4096 tokens at 12:30:45"},
		{"This model's maximum context length is 8192 tokens. Please reduce the length.", "", "maximum context length is 8192 tokens. Please reduce"},
		{"use Foo::Bar instead", "", "Foo::Bar"},
	}
	for _, tt := range tests {
		got := ForDeveloper(tt.in, leakyCredential)
		if tt.gone != "" && strings.Contains(got, tt.gone) {
			t.Errorf("ForDeveloper(%q) = %q keeps %q", tt.in, got, tt.gone)
		}
		if !strings.Contains(got, tt.kept) {
			t.Errorf("ForDeveloper(%q) = %q lost %q", tt.in, got, tt.kept)
		}
	}
}

// TestRedactForms checks each form of the credential an upstream may echo is redacted, and that a
// credential too short to look for leaves the text alone.
func TestRedactForms(t *testing.T) {
	for _, form := range echoedForms {
		if got := Redact("it said "+form+" twice: "+form, leakyCredential); strings.Contains(got, form) || strings.Count(got, Redacted) != 2 {
			t.Errorf("Redact left %q in %q", form, got)
		}
	}
	if got := Redact("a b c", "b"); got != "a b c" {
		t.Errorf("a one-letter credential garbled the text: %q", got)
	}
	if got := ForOperator(strings.Repeat("é", 2000), ""); len(got) > MaxStoredText || !strings.HasSuffix(got, "…") {
		t.Errorf("ForOperator did not bound the text: %d bytes", len(got))
	}
}

// blockedForms are the ways of writing an address the SSRF guard must refuse, loopback allowed
// or not: NAT64 (well-known and local-use), IPv4-compatible, IPv4-mapped, IPv4-translated and
// 6to4 forms of blocked IPv4 addresses, and AWS's IPv6 metadata range.
var blockedForms = []string{
	"64:ff9b::a9fe:a9fe",         // NAT64 of 169.254.169.254
	"64:ff9b::169.254.169.254",   // the same, dotted
	"64:ff9b::7f00:1",            // NAT64 of 127.0.0.1: another host's loopback
	"64:ff9b:1:a9fe:a9:fe00::",   // local-use NAT64 /48 of 169.254.169.254
	"64:ff9b:1:0:a9:fea9:fe00:0", // local-use NAT64 /64 of 169.254.169.254
	"64:ff9b:1::a9fe:a9fe",       // local-use NAT64 /96 of 169.254.169.254
	"64:ff9b:1::7f00:1",          // local-use NAT64 /96 of 127.0.0.1
	"::a9fe:a9fe",                // IPv4-compatible 169.254.169.254
	"::169.254.169.254",          // the same, dotted
	"::127.0.0.1",                // IPv4-compatible loopback: not real loopback
	"::ffff:a9fe:a9fe",           // IPv4-mapped 169.254.169.254
	"::ffff:169.254.170.2",       // IPv4-mapped ECS task metadata
	"::ffff:0:a9fe:a9fe",         // IPv4-translated 169.254.169.254
	"2002:a9fe:a9fe::1",          // 6to4 with 169.254.169.254 inside
	"2002:7f00:1::",              // 6to4 with 127.0.0.1 inside
	"2002:6464:64c8::1",          // 6to4 with Alibaba's 100.100.100.200 inside
	"fd00:ec2::254",              // AWS instance metadata (IPv6)
	"fd00:ec2::23",               // AWS ECS task metadata (IPv6)
	"fd00:ec2:0:1::1",            // anywhere in fd00:ec2::/32
	"fe80::a9fe:a9fe%eth0",       // link-local with a zone
}

// TestAttackSSRFGuardEdges writes blocked addresses in every form that reaches the same host and
// checks each is refused when given as a literal base URL (400 blocked_address at create) and
// when a host name resolves to it at dial time, in local runs (loopback allowed) too; the real
// loopback stays allowed there, and private translated addresses stay allowed.
func TestAttackSSRFGuardEdges(t *testing.T) {
	addr, accepted := countingListener(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, form := range blockedForms {
		ip := netip.MustParseAddr(form)
		for _, loop := range []bool{false, true} {
			if err := CheckAddr(ip, loop); !IsBlocked(err) {
				t.Errorf("CheckAddr(%s, loopback=%v) = %v, want blocked", form, loop, err)
			}
			base := "http://[" + strings.Replace(form, "%", "%25", 1) + "]:8000/v1"
			if err := CheckBaseURLHost(base, loop); !IsBlocked(err) {
				t.Errorf("CheckBaseURLHost(%s, loopback=%v) = %v, want blocked", base, loop, err)
			}
			d := newDialer(loop, mapResolver{"rebind.test": {form}}, time.Second)
			if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("rebind.test", port)); !IsBlocked(err) {
				t.Errorf("dial rebind.test → %s (loopback=%v) = %v, want blocked", form, loop, err)
			}
		}
	}
	for _, form := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::a00:5", "2002:a00:5::1", "::ffff:10.0.0.5", "fd00:ec3::1"} {
		if err := CheckAddr(netip.MustParseAddr(form), true); err != nil {
			t.Errorf("CheckAddr(%s, loopback=true) = %v, want allowed", form, err)
		}
	}

	// Trailing-dot names are the same names: refused at create and at dial, whatever DNS says.
	lying := mapResolver{"localhost.": {"10.0.0.7"}, "metadata.google.internal.": {"10.0.0.8"}, "METADATA.google.internal": {"10.0.0.8"}}
	for _, host := range []string{"localhost.", "api.localhost.", "LOCALHOST"} {
		if err := CheckBaseURLHost("http://"+host+":8000/v1", false); !IsBlocked(err) {
			t.Errorf("CheckBaseURLHost(%s) = %v, want blocked (loopback)", host, err)
		}
		d := newDialer(false, lying, time.Second)
		if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(host, port)); !IsBlocked(err) {
			t.Errorf("dial %s = %v, want blocked (loopback by definition)", host, err)
		}
	}
	for _, host := range []string{"metadata.google.internal.", "METADATA.google.internal", "metadata.google.internal", "instance-data.ec2.internal."} {
		for _, loop := range []bool{false, true} {
			if err := CheckBaseURLHost("http://"+host+"/computeMetadata/v1", loop); !IsBlocked(err) {
				t.Errorf("CheckBaseURLHost(%s, loopback=%v) = %v, want blocked", host, loop, err)
			}
			d := newDialer(loop, lying, time.Second)
			if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(host, "80")); !IsBlocked(err) {
				t.Errorf("dial %s (loopback=%v) = %v, want blocked", host, loop, err)
			}
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the loopback listener accepted %d connections from blocked forms", n)
	}
	// In a local run, localhost. is real loopback, and connects.
	d := newDialer(true, lying, time.Second)
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost.", port))
	if err != nil {
		t.Fatalf("dial localhost. with loopback allowed: %v", err)
	}
	c.Close()
	if err := CheckBaseURLHost("http://localhost.:"+port+"/v1", true); err != nil {
		t.Errorf("CheckBaseURLHost(localhost.) with loopback allowed = %v", err)
	}
}
