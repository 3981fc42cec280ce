package prommetrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
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

// RequireBasicAuth returns h behind HTTP basic authentication (RFC 7617)
// with the one user and password given: any other request gets 401 with
// a WWW-Authenticate challenge. The comparison takes the same time
// whatever the guess. Serve it over TLS, or on a network you trust: basic
// authentication sends the password in the clear.
func RequireBasicAuth(h http.Handler, user, password string) http.Handler {
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) == 1
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) == 1
		if !ok || !userOK || !passOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="certkeeper metrics", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
