package acmetest

import (
	"context"
	"errors"

	"github.com/certkeeper/certkeeper/acme"
)

// The Validate functions check a challenge's answer the way the fake CA
// does when CAOptions gives it an address: from the CA's side, written
// apart from the client's own self-checks so that a test does not check a
// solver with the code under test. Each returns nil when the CA would
// accept the answer, else an *acme.Problem saying why not (connection,
// tls, dns or unauthorized, as a CA would report it). chal needs
// Identifier, Token and KeyAuthorization; ctx bounds the check.

// ValidateHTTP01 fetches http://addr/.well-known/acme-challenge/TOKEN with
// the identifier as Host, following no redirect (RFC 8555 §8.3).
func ValidateHTTP01(ctx context.Context, addr string, chal acme.Challenge) error {
	return asError(checkHTTP01(ctx, addr, chal.Identifier, chal.Token, chal.KeyAuthorization))
}

// ValidateTLSALPN01 does the acme-tls/1 handshake with addr and checks the
// certificate (RFC 8737 §3).
func ValidateTLSALPN01(ctx context.Context, addr string, chal acme.Challenge) error {
	return asError(checkTLSALPN01(ctx, addr, chal.Identifier, chal.KeyAuthorization))
}

// ValidateDNS01 asks the DNS server at server (host:port) for the TXT
// records of _acme-challenge.NAME (NAME is a wildcard's base name) and
// looks for the challenge's value among them (RFC 8555 §8.4).
func ValidateDNS01(ctx context.Context, server string, chal acme.Challenge) error {
	id := chal.Identifier
	if id.Type == "" {
		return errors.New("acmetest: challenge has no identifier")
	}
	return asError(checkDNS01(ctx, server, id, chal.KeyAuthorization))
}

// asError keeps a nil *acme.Problem from becoming a non-nil error.
func asError(p *acme.Problem) error {
	if p == nil {
		return nil
	}
	return p
}
