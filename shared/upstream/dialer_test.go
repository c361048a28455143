package upstream

import (
	"context"
	"errors"
	"github.com/switchyard-ai/switchyard/shared/waittest"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr          string
		allowLoopback bool
		blocked       bool
	}{
		{"169.254.169.254", true, true},
		{"169.254.170.2", true, true},
		{"169.254.1.1", true, true},
		{"fe80::1", true, true},
		{"fe80::1%eth0", true, true},
		{"fd00:ec2::254", true, true},
		{"fd00:ec2::1", true, true},  // AWS's IPv6 metadata range
		{"fd00:ec3::1", true, false}, // another ULA address: private, allowed
		{"100.100.100.200", true, true},
		{"100.100.100.1", true, false}, // CGNAT space is not metadata
		{"192.0.0.192", true, true},
		{"::ffff:169.254.169.254", true, true},
		{"64:ff9b::a9fe:a9fe", true, true}, // NAT64 form of 169.254.169.254
		{"0.0.0.0", true, true},
		{"0.1.2.3", true, true},
		{"::", true, true},
		{"224.0.0.1", true, true},
		{"ff02::1", true, true},
		{"255.255.255.255", true, true},
		{"127.0.0.1", false, true},
		{"127.0.0.1", true, false},
		{"127.8.8.8", false, true},
		{"::1", false, true},
		{"::1", true, false},
		{"::ffff:127.0.0.1", false, true},
		{"10.0.0.5", false, false},
		{"172.16.0.1", false, false},
		{"172.31.255.254", false, false},
		{"192.168.1.10", false, false},
		{"fc00::1", false, false},
		{"fd12:3456::1", false, false},
		{"8.8.8.8", false, false},
		{"2001:4860:4860::8888", false, false},
	}
	for _, tt := range tests {
		err := CheckAddr(netip.MustParseAddr(tt.addr), tt.allowLoopback)
		if (err != nil) != tt.blocked {
			t.Errorf("CheckAddr(%s, loopback=%v) = %v, want blocked=%v", tt.addr, tt.allowLoopback, err, tt.blocked)
		}
		if err != nil && !IsBlocked(err) {
			t.Errorf("CheckAddr(%s): %v is not a BlockedAddressError", tt.addr, err)
		}
	}
}

func TestCheckBaseURLHost(t *testing.T) {
	tests := []struct {
		url     string
		loop    bool
		blocked bool
	}{
		{"http://169.254.169.254/latest", true, true},
		{"http://[fd00:ec2::254]/v1", true, true},
		{"http://[::ffff:a9fe:a9fe]/v1", true, true},
		{"http://127.0.0.1:8000/v1", false, true},
		{"http://127.0.0.1:8000/v1", true, false},
		{"http://localhost:8000/v1", false, true},
		{"http://api.localhost:8000/v1", false, true},
		{"http://localhost:8000/v1", true, false},
		{"http://10.1.2.3:8000/v1", false, false},
		{"https://metadata.google.internal/v1", false, true}, // a metadata service's name
		{"https://llm.corp.internal/v1", false, false},       // a name: checked at dial time
	}
	for _, tt := range tests {
		err := CheckBaseURLHost(tt.url, tt.loop)
		if (err != nil) != tt.blocked {
			t.Errorf("CheckBaseURLHost(%s, loopback=%v) = %v, want blocked=%v", tt.url, tt.loop, err, tt.blocked)
		}
	}
}

// mapResolver answers fixed addresses for names, as a malicious or rebinding DNS would.
type mapResolver map[string][]string

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out, nil
}

// countingListener counts accepted connections.
func countingListener(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), accepted
}

func TestDialerRefusesBlockedResolvedAddressesWithoutConnecting(t *testing.T) {
	addr, accepted := countingListener(t)
	_, port, _ := net.SplitHostPort(addr)
	r := mapResolver{
		"metadata.test": {"169.254.169.254"},
		"sneaky.test":   {"127.0.0.1"},
		"mixed.test":    {"169.254.169.254", "127.0.0.1"},
	}

	d := newDialer(false, r, time.Second)
	for _, host := range []string{"metadata.test", "sneaky.test"} {
		start := time.Now()
		_, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
		var be *BlockedAddressError
		if !errors.As(err, &be) {
			t.Fatalf("dial %s: %v, want a BlockedAddressError", host, err)
		}
		if be.Host != host {
			t.Errorf("the error should name the host %s: %v", host, be)
		}
		// A dial that had been attempted to 169.254.169.254 would hang until the timeout.
		if time.Since(start) > 200*time.Millisecond {
			t.Errorf("dial %s took %v: it was attempted, not refused", host, time.Since(start))
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the listener behind the blocked name accepted %d connections", n)
	}

	// With loopback allowed, the same name connects, and the metadata address in the same
	// answer is skipped rather than dialed.
	d = newDialer(true, r, time.Second)
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("mixed.test", port))
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	c.Close()
	waittest.Eventually(t, 2*time.Second, "the listener to accept the one connection", func() (int64, bool) {
		n := accepted.Load()
		return n, n == 1
	})
}

func TestDialerControlChecksTheAddressAtConnect(t *testing.T) {
	// The Control hook is the last line: even a literal that slipped past the lookup-time
	// check is refused before connect.
	d := newDialer(false, mapResolver{}, time.Second)
	_, err := d.net.DialContext(context.Background(), "tcp", "169.254.169.254:80")
	if !IsBlocked(err) {
		t.Fatalf("net.Dialer with Control dialed 169.254.169.254: %v", err)
	}
	addr, accepted := countingListener(t)
	if _, err := d.net.DialContext(context.Background(), "tcp", addr); !IsBlocked(err) {
		t.Fatalf("loopback dial not refused: %v", err)
	}
	if accepted.Load() != 0 {
		t.Fatal("the loopback listener accepted a connection")
	}
}
