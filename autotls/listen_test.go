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

// A ListenError words a busy port and a forbidden one for the program's
// own name of the setting (a flag), saying what to do: every front end
// gets the same advice.
func TestListenErrorMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{syscall.EADDRINUSE, "-tls-listen: 127.0.0.1:8443 is already in use (another program serves this port: stop it, or give -tls-listen another address)"},
		{syscall.EACCES, "-tls-listen: no permission to listen on 127.0.0.1:8443 (ports below 1024 need CAP_NET_BIND_SERVICE)"},
		{errors.New("no such host"), "-tls-listen: cannot listen on 127.0.0.1:8443"},
	} {
		le := &ListenError{Setting: "HTTPSAddr", Addr: "127.0.0.1:8443", Err: tc.err}
		if got := le.Message("-tls-listen"); got != tc.want {
			t.Errorf("%v: Message\n got %s\nwant %s", tc.err, got, tc.want)
		}
		if want := "autotls: " + strings.ReplaceAll(tc.want, "-tls-listen", "HTTPSAddr") + ": " + tc.err.Error(); le.Error() != want {
			t.Errorf("%v: Error\n got %s\nwant %s", tc.err, le.Error(), want)
		}
	}
}
