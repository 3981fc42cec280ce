package tlsalpn01

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Responder answers tls-alpn-01 validations from a TLS server of your
// own: it is a Solver that keeps validation certificates in memory, keyed
// by the SNI the CA will send, and WrapConfig (or GetCertificate) hands
// them out in the handshakes that ask for acme-tls/1. The zero value is
// ready to use; a Responder must not be copied after first use. It is
// safe for concurrent use.
type Responder struct {
	mu sync.RWMutex
	// certs maps a server name to the certificates presented for it,
	// latest last: two orders may validate one name at once.
	certs map[string][]presented
}

type presented struct {
	keyAuth string
	cert    *tls.Certificate
}

var _ challenge.Solver = (*Responder)(nil)

// Present makes a validation certificate for chal and serves it to
// acme-tls/1 handshakes for the challenge's name.
func (m *Responder) Present(ctx context.Context, chal acme.Challenge) error {
	if chal.Type != "" && chal.Type != acme.ChallengeTLSALPN01 {
		return fmt.Errorf("tlsalpn01: cannot solve a %s challenge", chal.Type)
	}
	sni := challenge.TLSALPN01ServerName(chal.Identifier)
	if sni == "" {
		return fmt.Errorf("tlsalpn01: invalid identifier %q", chal.Identifier.Value)
	}
	cert, err := challenge.TLSALPN01Certificate(chal.Identifier, chal.KeyAuthorization)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.certs == nil {
		m.certs = make(map[string][]presented)
	}
	m.certs[sni] = append(m.certs[sni], presented{keyAuth: chal.KeyAuthorization, cert: &cert})
	return nil
}

// CleanUp stops serving the certificate Present made for chal.
func (m *Responder) CleanUp(ctx context.Context, chal acme.Challenge) error {
	m.release(chal)
	return nil
}

// release removes one certificate presented for chal and reports whether
// there was one.
func (m *Responder) release(chal acme.Challenge) bool {
	sni := challenge.TLSALPN01ServerName(chal.Identifier)
	m.mu.Lock()
	defer m.mu.Unlock()
	list, found := m.certs[sni], false
	// Remove the latest matching entry: a challenge presented twice is
	// cleaned up twice.
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].keyAuth == chal.KeyAuthorization {
			list = slices.Delete(list, i, i+1)
			found = true
			break
		}
	}
	if len(list) == 0 {
		delete(m.certs, sni)
	} else {
		m.certs[sni] = list
	}
	return found
}

// GetCertificate returns the validation certificate for hello if hello
// offers acme-tls/1 and a challenge for its server name is presented.
// ok is false otherwise, and the handshake is not a validation this
// Responder can answer.
func (m *Responder) GetCertificate(hello *tls.ClientHelloInfo) (cert *tls.Certificate, ok bool) {
	if !IsChallengeHello(hello) {
		return nil, false
	}
	sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := m.certs[sni]
	if len(list) == 0 {
		return nil, false
	}
	return list[len(list)-1].cert, true
}

// IsChallengeHello reports whether hello offers the acme-tls/1 protocol,
// which only a tls-alpn-01 validation does.
func IsChallengeHello(hello *tls.ClientHelloInfo) bool {
	return hello != nil && slices.Contains(hello.SupportedProtos, challenge.ALPNProto)
}

// WrapConfig returns a clone of cfg (nil means an empty tls.Config) that
// also answers tls-alpn-01 validations from the challenges presented to
// m, so that a server already listening on :443 solves them:
//
//   - "acme-tls/1" is added to NextProtos;
//   - a handshake offering acme-tls/1 gets the validation certificate
//     for its SNI, or fails if none is presented, so that the CA is not
//     shown the site's normal certificate (crypto/tls itself picks
//     Certificates[0] for a hello without SNI, which the CA never sends);
//   - every other handshake is served as cfg would serve it: by cfg's
//     GetCertificate, falling back to Certificates. A config returned by
//     cfg's GetConfigForClient is wrapped the same way.
//
// A validation connection negotiates acme-tls/1 and is closed by the CA
// right after the handshake; an http.Server treats it as HTTP/1.1 and
// sees no request.
func (m *Responder) WrapConfig(cfg *tls.Config) *tls.Config {
	var c *tls.Config
	if cfg == nil {
		c = &tls.Config{}
	} else {
		c = cfg.Clone()
	}
	m.wrap(c)
	if next := c.GetConfigForClient; next != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := next(hello)
			if err != nil || cc == nil {
				return cc, err
			}
			cc = cc.Clone()
			cc.GetConfigForClient = nil
			m.wrap(cc)
			return cc, nil
		}
	}
	return c
}

// wrap installs the challenge hooks in c, which it owns.
func (m *Responder) wrap(c *tls.Config) {
	if !slices.Contains(c.NextProtos, challenge.ALPNProto) {
		c.NextProtos = append(slices.Clip(c.NextProtos), challenge.ALPNProto)
	}
	next := c.GetCertificate
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if IsChallengeHello(hello) {
			if cert, ok := m.GetCertificate(hello); ok {
				return cert, nil
			}
			return nil, fmt.Errorf("tlsalpn01: no tls-alpn-01 challenge presented for %q", hello.ServerName)
		}
		if next != nil {
			return next(hello)
		}
		// nil, nil makes crypto/tls use c.Certificates.
		return nil, nil
	}
}
