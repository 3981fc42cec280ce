package prommetrics_test

import (
	"net"
	"testing"

	"github.com/certkeeper/certkeeper/manager/prommetrics"
)

func TestExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:0": false,
		"[::1]:0":     false,
		":0":          true,
		"0.0.0.0:0":   true,
	} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("%s: %v", addr, err)
			continue
		}
		if got := prommetrics.Exposed(ln.Addr()); got != want {
			t.Errorf("Exposed(%s = %s) = %v, want %v", addr, ln.Addr(), got, want)
		}
		ln.Close()
	}
}
