package issue

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
)

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
