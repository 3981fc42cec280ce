package cli

import (
	"fmt"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
)

// TestIssueErrorExitCodes: a failed validation the CA left pending exits 5
// whatever the problem type, like an invalid order; a wrong certificate
// is a failure (1), a malformed name a usage error (2).
func TestIssueErrorExitCodes(t *testing.T) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "h1.example.test"}
	for _, typ := range []acme.ProblemType{acme.ProblemConnection, acme.ProblemUnauthorized, "urn:example:other"} {
		ve := &issue.ValidationError{
			Order:         acme.Order{URL: "https://ca.example/order/1", Status: acme.StatusPending},
			Authorization: acme.Authorization{Identifier: id, Status: acme.StatusPending},
			Challenge:     acme.Challenge{Type: acme.ChallengeHTTP01, Status: acme.StatusPending, Error: &acme.Problem{Type: typ, Detail: "could not connect to validation target", Status: 400}},
			Attempts:      1,
		}
		ve.Authorization.Challenges = []acme.Challenge{ve.Challenge}
		if got := exitCode(fmt.Errorf("obtain: %w", ve)); got != ExitValidation {
			t.Errorf("ValidationError with %s: exit %d, want %d", typ, got, ExitValidation)
		}
	}
	if got := exitCode(&issue.BadCertificateError{URL: "https://ca.example/cert/1", Problem: "the leaf lacks dns h2.example.test"}); got != ExitError {
		t.Errorf("BadCertificateError: exit %d, want %d", got, ExitError)
	}
	if _, err := issue.ParseIdentifiers("[127.0.0.1"); exitCode(err) != ExitUsage {
		t.Errorf("%v: exit %d, want %d", err, exitCode(err), ExitUsage)
	}
}
