package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// BlockedAddressError says an address may never be dialed: link-local, a cloud metadata
// address, unspecified, multicast or broadcast, or loopback where loopback is not allowed.
// Its Code is SPEC's blocked_address.
type BlockedAddressError struct {
	Host   string     // the host name as given, when the address came from a lookup
	Addr   netip.Addr // the address refused
	Reason string     // e.g. "a cloud metadata address"
}

// Code is the diagnostic and error code for a blocked address.
func (e *BlockedAddressError) Code() string { return "blocked_address" }

func (e *BlockedAddressError) Error() string {
	if !e.Addr.IsValid() && e.Host != "" { // refused by its name, before any lookup
		return fmt.Sprintf("%s is %s, which this gateway does not dial (blocked_address)", e.Host, e.Reason)
	}
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("%s resolves to %s, %s, which this gateway does not dial (blocked_address)", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("%s is %s, which this gateway does not dial (blocked_address)", e.Addr, e.Reason)
}

// metadataAddrs are the instance metadata and similar host-local service addresses of the
// clouds. Most are link-local anyway; the others (Alibaba's, AWS's IPv6 ones) would be
// reachable private addresses if they were not listed here.
var metadataAddrs = map[netip.Addr]string{
	netip.MustParseAddr("169.254.169.254"): "AWS/GCP/Azure/OCI instance metadata",
	netip.MustParseAddr("169.254.170.2"):   "AWS ECS task metadata",
	netip.MustParseAddr("169.254.169.123"): "AWS time sync",
	netip.MustParseAddr("169.254.169.253"): "AWS DNS",
	netip.MustParseAddr("100.100.100.200"): "Alibaba Cloud instance metadata",
	netip.MustParseAddr("192.0.0.192"):     "Oracle Cloud instance metadata",
}

// metadataNames are the host names of metadata services, refused before any lookup (compared in
// lower case, without a final dot).
var metadataNames = map[string]string{
	"metadata.google.internal":   "GCP instance metadata",
	"metadata":                   "GCP instance metadata",
	"instance-data":              "AWS instance metadata",
	"instance-data.ec2.internal": "AWS instance metadata",
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8") // "this network": 0.x dials the local host on Linux
	broadcast   = netip.MustParseAddr("255.255.255.255")
	// AWS keeps its IPv6 instance metadata, DNS, time sync and ECS task metadata in this range.
	ec2Metadata = netip.MustParsePrefix("fd00:ec2::/32")
	// IPv6 ranges that embed an IPv4 address (RFC 6052, 6146, 3056, 4291, 2765): the host reached
	// is that IPv4 address, through a translator or a tunnel.
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	compatible = netip.MustParsePrefix("::/96")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
)

// embeddedIPv4 lists the IPv4 addresses ip may stand for: the one a NAT64 prefix, 6to4, an
// IPv4-compatible or an IPv4-translated address carries. A local-use NAT64 address
// (64:ff9b:1::/48) may embed it at any of RFC 6052's positions for prefixes of /48 to /96, so
// each is listed. ::1 and :: are themselves, not IPv4-compatible.
func embeddedIPv4(ip netip.Addr) (how string, v4s []netip.Addr) {
	b := ip.As16()
	at := func(i ...int) netip.Addr { return netip.AddrFrom4([4]byte{b[i[0]], b[i[1]], b[i[2]], b[i[3]]}) }
	switch {
	case nat64.Contains(ip):
		return "NAT64 64:ff9b::/96", []netip.Addr{at(12, 13, 14, 15)}
	case nat64Local.Contains(ip):
		return "local-use NAT64 64:ff9b:1::/48", []netip.Addr{at(6, 7, 9, 10), at(7, 9, 10, 11), at(9, 10, 11, 12), at(12, 13, 14, 15)}
	case sixToFour.Contains(ip):
		return "6to4 2002::/16", []netip.Addr{at(2, 3, 4, 5)}
	case translated.Contains(ip):
		return "IPv4-translated ::ffff:0:0:0/96", []netip.Addr{at(12, 13, 14, 15)}
	case compatible.Contains(ip) && ip != netip.IPv6Loopback() && ip != netip.IPv6Unspecified():
		return "IPv4-compatible ::/96", []netip.Addr{at(12, 13, 14, 15)}
	}
	return "", nil
}

// CheckAddr reports whether ip may be dialed: nil, or a *BlockedAddressError. Private ranges
// (10/8, 172.16/12, 192.168/16, fc00::/7 but AWS's fd00:ec2::/32) are allowed, because
// self-hosted models live there; loopback is allowed only with allowLoopback, and then only
// 127.0.0.0/8 and ::1 themselves (and ::ffff:127.x, which the socket dials as 127.x): an
// IPv6 address embedding an IPv4 one (NAT64, 6to4, IPv4-compatible or -translated) is refused
// when that IPv4 address would be, loopback included.
func CheckAddr(ip netip.Addr, allowLoopback bool) error {
	reason := blockedReason(ip, allowLoopback)
	if reason == "" {
		return nil
	}
	return &BlockedAddressError{Addr: ip, Reason: reason}
}

func blockedReason(ip netip.Addr, allowLoopback bool) string {
	if !ip.IsValid() {
		return "not a valid address"
	}
	// ::ffff:169.254.169.254 is dialed as 169.254.169.254 itself.
	ip = ip.WithZone("").Unmap()
	if how, v4s := embeddedIPv4(ip); how != "" {
		for _, v4 := range v4s {
			// Through a translator or tunnel, loopback is another host's: never allowed.
			if reason := blockedReason(v4, false); reason != "" {
				return fmt.Sprintf("%s embedded in a %s address", reason, how)
			}
		}
	}
	if what, ok := metadataAddrs[ip]; ok {
		return "a cloud metadata address (" + what + ")"
	}
	switch {
	case ec2Metadata.Contains(ip):
		return "a cloud metadata address (AWS's IPv6 metadata range fd00:ec2::/32)"
	case ip.IsUnspecified() || (ip.Is4() && thisNetwork.Contains(ip)):
		return "an unspecified address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast() || ip == broadcast:
		return "a multicast or broadcast address"
	case ip.IsLoopback() && !allowLoopback:
		return "a loopback address (allowed only in local runs)"
	}
	return ""
}

// CheckBaseURLHost checks a base URL whose host is a literal IP, so that the admin API can
// refuse it up front with 400 blocked_address. A host name passes: it is checked when it is
// resolved, at every dial.
func CheckBaseURLHost(baseURL string, allowLoopback bool) error {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil // not this check's business: NormalizeBaseURL refuses it
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if be := blockedName(host); be != nil {
			return be
		}
		if isLocalhost(host) {
			ip = netip.IPv6Loopback() // RFC 6761: always loopback
		} else {
			return nil
		}
	}
	if err := CheckAddr(ip, allowLoopback); err != nil {
		be := err.(*BlockedAddressError)
		be.Host = host
		return be
	}
	return nil
}

// canonicalName is a host name as compared: lower case, without the final dot that makes it
// fully qualified ("localhost." is localhost).
func canonicalName(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// isLocalhost reports whether host is loopback by definition (RFC 6761): localhost and any
// name under .localhost, with or without the final dot.
func isLocalhost(host string) bool {
	h := canonicalName(host)
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// blockedName refuses a metadata service's host name before it is looked up.
func blockedName(host string) *BlockedAddressError {
	if what, ok := metadataNames[canonicalName(host)]; ok {
		return &BlockedAddressError{Host: host, Reason: "a cloud metadata host name (" + what + ")"}
	}
	return nil
}

// Resolver looks host names up. *net.Resolver satisfies it; tests inject their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialer dials only addresses CheckAddr allows. Names are resolved first and every resolved
// address is checked before it is dialed; the socket's Control hook checks the address again
// right before connect, so nothing that reaches the kernel can be a blocked one, whatever DNS
// answers between the lookup and the dial.
type dialer struct {
	allowLoopback bool
	resolver      Resolver
	timeout       time.Duration
	net           net.Dialer
}

func newDialer(allowLoopback bool, r Resolver, timeout time.Duration) *dialer {
	d := &dialer{allowLoopback: allowLoopback, resolver: r, timeout: timeout}
	d.net = net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control:   d.control,
	}
	return d
}

func (d *dialer) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedAddressError{Reason: "not an IP address (" + address + ")"}
	}
	return CheckAddr(ap.Addr(), d.allowLoopback)
}

// connectError marks a failure to establish the connection, so classification can say
// "could not connect" rather than guess from the message.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// DialContext resolves address with the injected resolver and dials the allowed addresses in
// turn, sharing the connect timeout between them as net.Dialer does.
func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &connectError{err}
	}
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if be := blockedName(host); be != nil {
		return nil, &connectError{be}
	} else if isLocalhost(host) {
		// Loopback by definition, whatever a resolver would answer for it.
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	} else {
		addrs, err = d.resolver.LookupNetIP(ctx, ipNetwork(network), host)
		if err != nil {
			return nil, &connectError{err}
		}
		if len(addrs) == 0 {
			return nil, &connectError{&net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
		}
	}
	var firstBlocked, lastErr error
	allowed := addrs[:0:0]
	for _, ip := range addrs {
		if err := CheckAddr(ip, d.allowLoopback); err != nil {
			be := err.(*BlockedAddressError)
			be.Host = host
			if firstBlocked == nil {
				firstBlocked = be
			}
			continue
		}
		allowed = append(allowed, ip)
	}
	if len(allowed) == 0 {
		return nil, &connectError{firstBlocked}
	}
	for i, ip := range allowed {
		actx := ctx
		if dl, ok := ctx.Deadline(); ok && len(allowed)-i > 1 {
			// Leave the later addresses their share of the time.
			share := time.Until(dl) / time.Duration(len(allowed)-i)
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, share)
			defer cancel()
		}
		c, err := d.net.DialContext(actx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &connectError{lastErr}
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4", "udp4":
		return "ip4"
	case "tcp6", "udp6":
		return "ip6"
	}
	return "ip"
}

// IsBlocked reports whether err comes from refusing a blocked address.
func IsBlocked(err error) bool {
	var be *BlockedAddressError
	return errors.As(err, &be)
}
