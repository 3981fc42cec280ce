package issue

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A wildcard keeps its "*." in the progress lines and in the errors,
// although the CA's authorization names the base name.
func TestWildcardNamesKeepTheStar(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{})
	ca.decideHeld(func(v *acmetest.HeldValidation) {
		if v.Wildcard {
			v.Fail(acmetest.Problem(acme.ProblemConnection, connFailure))
		} else {
			v.Approve()
		}
	})
	is, _ := ca.issuer(acme.ChallengeDNS01)
	var log lockedBuffer
	is.Logger = slog.New(slog.NewTextHandler(&log, nil))
	_, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "*.example.test", "example.test")})
	if err == nil || !strings.Contains(err.Error(), "*.example.test") {
		t.Errorf("error %v: want the wildcard named with its *.", err)
	}
	lines := log.String()
	if !strings.Contains(lines, `msg="presenting challenge" type=dns-01 identifier=*.example.test`) ||
		!strings.Contains(lines, `msg="presenting challenge" type=dns-01 identifier=example.test`) {
		t.Errorf("progress lines do not name the wildcard and the base name apart:\n%s", lines)
	}
	if e := (&SolverError{Challenge: acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.DNSIdentifier("example.test"), Wildcard: true}, Op: "present", Err: errTest}); !strings.Contains(e.Error(), `"*.example.test"`) {
		t.Errorf("SolverError %q: want the wildcard named with its *.", e)
	}
}

var errTest = errorString("test")

type errorString string

func (e errorString) Error() string { return string(e) }
