package prommetrics

import (
	"net"
	"net/netip"
)

// ExposureWarning is what a program serving the metrics at addr (a
// listener's address) should log at start when Exposed(addr): the
// metrics name every certificate and its expiry, with no authentication.
const ExposureWarning = "metrics served on a non-loopback address without authentication: anyone who can reach it reads every certificate name and its expiry; listen on 127.0.0.1, or put a proxy with authentication (or TLS client certificates) in front"

// Exposed reports whether a listener at addr can be reached from other
// machines: any address but a loopback one (an unspecified address, as
// ":9100" listens on, reaches every interface).
func Exposed(addr net.Addr) bool {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return true
		}
		ip = ap.Addr()
	}
	return !ip.Unmap().IsLoopback()
}
