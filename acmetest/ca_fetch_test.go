package acmetest_test

import (
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// TestCARealValidation: with addresses in CAOptions the CA fetches the
// answers itself; a solver that answers passes, one that does not fails
// with the CA's reason.
func TestCARealValidation(t *testing.T) {
	web := &http01.Standalone{Addr: "127.0.0.1:0"}
	if err := web.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = web.Close() })
	alpn := &tlsalpn01.Standalone{Addr: "127.0.0.1:0"}
	if err := alpn.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = alpn.Close() })
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{HTTP01Addr: web.ListenAddr().String(), TLSALPN01Addr: alpn.ListenAddr().String()})
	c, acct := register(t, ca)

	for _, tc := range []struct {
		typ    acme.ChallengeType
		solver challenge.Solver
	}{{acme.ChallengeHTTP01, web}, {acme.ChallengeTLSALPN01, alpn}} {
		is := &issue.Issuer{Client: c, Account: acct, Solvers: solvers(tc.typ, tc.solver)}
		if _, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test", "127.0.0.1")}); err != nil {
			t.Errorf("%s answered by its solver: %v", tc.typ, err)
		}
		is.Solvers = solvers(tc.typ, &acmetest.NullSolver{})
		_, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "www.example.test")})
		if !hasProblem(err, acme.ProblemUnauthorized) && !hasProblem(err, acme.ProblemConnection) && !hasProblem(err, acme.ProblemTLS) {
			t.Errorf("%s not answered: %v, want the CA's refusal", tc.typ, err)
		}
	}
}

func solvers(typ acme.ChallengeType, s challenge.Solver) map[acme.ChallengeType]challenge.Solver {
	return map[acme.ChallengeType]challenge.Solver{typ: s}
}
