package autotls

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
)

// A listener that cannot be bound is a *ListenError naming the setting
// (HTTPSAddr, HTTPAddr) and the address, so that a program can name its
// own flag; nothing else is bound.
func TestListenAndServeBusyAddress(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	for _, tc := range []struct {
		https, http, setting string
	}{
		{busy.Addr().String(), "-", "HTTPSAddr"},
		{free(), busy.Addr().String(), "HTTPAddr"},
	} {
		cfg := &Config{Manager: newTestManager(t), HTTPSAddr: tc.https, HTTPAddr: tc.http}
		err := ListenAndServe(t.Context(), cfg, nil)
		var le *ListenError
		if !errors.As(err, &le) || le.Setting != tc.setting || le.Addr != busy.Addr().String() ||
			!errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), tc.setting) {
			t.Errorf("HTTPSAddr %s, HTTPAddr %s: %v (%#v); want a *ListenError of %s", tc.https, tc.http, err, le, tc.setting)
		}
		if tc.setting == "HTTPAddr" {
			// The HTTPS listener bound first was released.
			ln, err := net.Listen("tcp", tc.https)
			if err != nil {
				t.Errorf("HTTPSAddr %s still bound after the failure: %v", tc.https, err)
			} else {
				ln.Close()
			}
		}
	}
}
