package issue

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
)

// BadCertificateError reports that a chain the CA returned for an order is
// not what was ordered: its leaf's names or addresses differ from the
// order's identifiers, its leaf certifies another public key than the
// CSR's, or a certificate of the chain is not issued and signed by the
// next one. Obtain returns it instead of a certificate, so nothing wrong is
// ever stored or served.
type BadCertificateError struct {
	// URL is the chain's URL (the order's certificate URL, or an
	// alternate's, RFC 8555 §7.4.2).
	URL string
	// Problem says what is wrong, in words.
	Problem string
	// Missing lists the order's identifiers the leaf does not name; Extra
	// the leaf's DNS names and IP addresses that were not ordered (both
	// empty when the names are right).
	Missing []acme.Identifier
	Extra   []acme.Identifier
}

// Error names the chain and what is wrong with it.
func (e *BadCertificateError) Error() string {
	return fmt.Sprintf("issue: the CA returned a wrong certificate (%s): %s; it is refused", e.URL, e.Problem)
}

// verifyChain checks a chain the CA returned against the order: the leaf
// names exactly the identifiers (as sets: DNS names compared without case,
// a wildcard as the literal "*." name; IP addresses as addresses), it
// certifies pub, it is no CA certificate, and each certificate is issued
// (issuer name, RFC 5280 §4.1.2.4) and signed by the one after it. Chains
// that end below a root are fine: the root is not required.
func verifyChain(ch acme.Chain, ids []acme.Identifier, pub crypto.PublicKey) error {
	bad := func(format string, a ...any) error {
		return &BadCertificateError{URL: ch.URL, Problem: fmt.Sprintf(format, a...)}
	}
	if len(ch.Certificates) == 0 {
		return bad("the chain holds no certificate")
	}
	leaf := ch.Certificates[0]

	want := make(map[acme.Identifier]bool, len(ids))
	for _, id := range ids {
		want[canonicalSAN(id)] = true
	}
	got := make(map[acme.Identifier]bool, len(leaf.DNSNames)+len(leaf.IPAddresses))
	for _, n := range leaf.DNSNames {
		got[acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(n)}] = true
	}
	for _, ip := range leaf.IPAddresses {
		v := ip.String()
		if a, ok := netip.AddrFromSlice(ip); ok {
			v = a.Unmap().String()
		}
		got[acme.Identifier{Type: acme.IdentifierIP, Value: v}] = true
	}
	var missing, extra []acme.Identifier
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		byValue := func(a, b acme.Identifier) int { return strings.Compare(string(a.Type)+a.Value, string(b.Type)+b.Value) }
		slices.SortFunc(missing, byValue)
		slices.SortFunc(extra, byValue)
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "the leaf lacks "+identifierList(missing))
		}
		if len(extra) > 0 {
			parts = append(parts, "the leaf names "+identifierList(extra)+", which were not ordered")
		}
		return &BadCertificateError{URL: ch.URL, Problem: strings.Join(parts, " and "), Missing: missing, Extra: extra}
	}

	type equaler interface{ Equal(crypto.PublicKey) bool }
	if p, ok := pub.(equaler); !ok || !p.Equal(leaf.PublicKey) {
		return bad("the leaf certifies another public key than the certificate request's")
	}
	if leaf.IsCA {
		return bad("the leaf is a CA certificate")
	}
	for i := 0; i+1 < len(ch.Certificates); i++ {
		c, parent := ch.Certificates[i], ch.Certificates[i+1]
		if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
			return bad("certificate %d of the chain (%q) is issued by %q, but certificate %d is %q", i, c.Subject.String(), c.Issuer.String(), i+1, parent.Subject.String())
		}
		if err := c.CheckSignatureFrom(parent); err != nil {
			return bad("certificate %d of the chain (%q) is not signed by certificate %d (%q): %v", i, c.Subject.String(), i+1, parent.Subject.String(), err)
		}
	}
	return nil
}

// canonicalSAN is the form of id compared with a leaf's names.
func canonicalSAN(id acme.Identifier) acme.Identifier {
	if id.Type == acme.IdentifierIP {
		if a, err := netip.ParseAddr(id.Value); err == nil {
			return acme.Identifier{Type: acme.IdentifierIP, Value: a.Unmap().String()}
		}
	}
	return acme.Identifier{Type: id.Type, Value: strings.ToLower(id.Value)}
}

func identifierList(ids []acme.Identifier) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprintf("%s %s", id.Type, id.Value)
	}
	return strings.Join(s, ", ")
}

// csrPublicKey returns the public key of a DER certificate request.
func csrPublicKey(der []byte) (crypto.PublicKey, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("issue: parse CSR: %w", err)
	}
	return csr.PublicKey, nil
}

// verified picks the chain to return and checks every chain the CA
// offered (verifyChain): the chosen one must pass, else its
// *BadCertificateError is returned and no certificate; alternates that
// fail are dropped, with a warning. key is the certificate's key, nil when
// the request gave a CSR (csr, DER), whose key is then the one certified.
func (is *Issuer) verified(ctx context.Context, chains []acme.Chain, req Request, key crypto.Signer, csr []byte) (acme.Chain, []acme.Chain, error) {
	var pub crypto.PublicKey
	if key != nil {
		pub = key.Public()
	} else {
		var err error
		if pub, err = csrPublicKey(csr); err != nil {
			return acme.Chain{}, nil, err
		}
	}
	chosen, err := chooseChain(chains, req.PreferredChain)
	if err != nil {
		return acme.Chain{}, nil, err
	}
	if err := verifyChain(chosen, req.Identifiers, pub); err != nil {
		return acme.Chain{}, nil, err
	}
	good := make([]acme.Chain, 0, len(chains))
	for _, c := range chains {
		if c.URL == chosen.URL && c.URL != "" {
			good = append(good, c)
			continue
		}
		if err := verifyChain(c, req.Identifiers, pub); err != nil {
			is.logger().WarnContext(ctx, "dropping a chain the CA offered that fails the checks", "chain", c.URL, "error", err)
			continue
		}
		good = append(good, c)
	}
	return chosen, good, nil
}
