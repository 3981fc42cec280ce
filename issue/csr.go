package issue

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
)

// startCSR starts making the key and CSR of req and returns a function
// that waits for them. A new key is made while the order is placed and
// the CA validates (an RSA key takes from tens of milliseconds to
// seconds; a P-256 key and its CSR some 0.2 ms, a tenth of a round trip
// to a local CA); what can make that fail (an unknown key type) is
// checked first, so that no order is placed for a request that cannot be
// finalized. A key or CSR the caller gave is checked at once. end waits
// for the key to be made (it cannot be stopped halfway): the caller calls
// it before it returns, so that no goroutine outlives it, still
// generating a key or reading req.
func startCSR(req Request) (wait func(context.Context) (crypto.Signer, []byte, error), end func(), err error) {
	if len(req.CSR) > 0 || req.Key != nil {
		key, csr, err := prepareCSR(req)
		if err != nil {
			return nil, nil, err
		}
		return func(context.Context) (crypto.Signer, []byte, error) { return key, csr, nil }, func() {}, nil
	}
	if req.KeyType != "" && !slices.Contains(keys.Types(), req.KeyType) {
		return nil, nil, fmt.Errorf("issue: %w", &keys.UnknownTypeError{Name: string(req.KeyType)})
	}
	var (
		key     crypto.Signer
		csr     []byte
		makeErr error
		made    = make(chan struct{})
	)
	// The function may be called more than once (an order resumed and
	// then placed again): each call gets the one key.
	go func() {
		key, csr, makeErr = prepareCSR(req)
		close(made)
	}()
	return func(ctx context.Context) (crypto.Signer, []byte, error) {
		select {
		case <-made:
			return key, csr, makeErr
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
	}, func() { <-made }, nil
}

// prepareCSR returns the key (nil when the caller gave a CSR) and the DER
// CSR to finalize with.
func prepareCSR(req Request) (crypto.Signer, []byte, error) {
	if len(req.CSR) > 0 {
		csr, err := x509.ParseCertificateRequest(req.CSR)
		if err != nil {
			return nil, nil, fmt.Errorf("issue: parse CSR: %w", err)
		}
		if err := csr.CheckSignature(); err != nil {
			return nil, nil, fmt.Errorf("issue: CSR signature: %w", err)
		}
		return nil, req.CSR, nil
	}
	key := req.Key
	if key == nil {
		var err error
		if key, err = keys.Generate(req.KeyType); err != nil {
			return nil, nil, fmt.Errorf("issue: %w", err)
		}
	}
	csr, err := NewCSR(key, req.Identifiers)
	if err != nil {
		return nil, nil, err
	}
	return key, csr, nil
}

// NewCSR makes a DER certificate request for identifiers signed by key:
// DNS names and IP addresses as subject alternative names, and the first
// DNS name of at most 64 characters as common name.
func NewCSR(key crypto.Signer, ids []acme.Identifier) ([]byte, error) {
	var tmpl x509.CertificateRequest
	for _, id := range ids {
		switch id.Type {
		case acme.IdentifierDNS:
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
			if tmpl.Subject.CommonName == "" && len(id.Value) <= 64 {
				tmpl.Subject = pkix.Name{CommonName: id.Value}
			}
		case acme.IdentifierIP:
			ip := net.ParseIP(id.Value)
			if ip == nil {
				return nil, fmt.Errorf("issue: %w: bad IP address %q", ErrInvalidIdentifier, id.Value)
			}
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			return nil, fmt.Errorf("issue: %w: unsupported identifier type %q", ErrInvalidIdentifier, id.Type)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("issue: create CSR: %w", err)
	}
	return der, nil
}

// chooseChain returns the first chain matching preferred (see
// Request.PreferredChain), else the default one.
func chooseChain(chains []acme.Chain, preferred string) (acme.Chain, error) {
	if len(chains) == 0 || len(chains[0].Certificates) == 0 {
		return acme.Chain{}, errors.New("issue: the CA returned no certificate")
	}
	if preferred == "" {
		return chains[0], nil
	}
	// The top certificate's issuer first: that names the root the chain
	// leads to, which is what users mean by "the chain".
	for _, c := range chains {
		if n := len(c.Certificates); n > 0 && c.Certificates[n-1].Issuer.CommonName == preferred {
			return c, nil
		}
	}
	for _, c := range chains {
		for _, cert := range c.Certificates {
			if cert.Subject.CommonName == preferred || cert.Issuer.CommonName == preferred {
				return c, nil
			}
		}
	}
	return chains[0], nil
}
