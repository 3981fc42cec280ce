package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// serve's listener on a port in use is reported by its flag, as obtain's
// built-in servers are, and the command fails, without having said
// first that it serves.
func TestServeBusyPortNamesTheFlag(t *testing.T) {
	t.Parallel()
	busy := busyAddr(t)
	for _, tc := range []struct{ tls, http, flag string }{
		{busy, "-", "-tls-listen"},
		{freeAddr(t), busy, "-http-listen"},
	} {
		code, _, errs := mainEnv(t, nil, "serve", "-ca", "https://127.0.0.1:1/dir", "-store", filepath.Join(t.TempDir(), "store"), "-agree-tos",
			"-d", "a.example.test", "-root", t.TempDir(), "-tls-listen", tc.tls, "-http-listen", tc.http)
		want := "certkeeper serve: " + tc.flag + ": " + busy + " is already in use (another program serves this port: stop it, or give " + tc.flag + " another address)\n"
		if code != ExitError || !strings.HasSuffix(errs, want) || strings.Contains(errs, "serving HTTPS") {
			t.Errorf("exit %d, stderr\n%s\nwant exit %d, stderr\n%s", code, errs, ExitError, want)
		}
	}
}
