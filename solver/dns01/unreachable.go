//go:build !plan9

package dns01

import (
	"errors"
	"syscall"
)

// unreachable reports whether err says that an address cannot be
// reached from this host at all (rather than that a packet was lost).
func unreachable(err error) bool {
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EADDRNOTAVAIL, syscall.EAFNOSUPPORT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
