package challenge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// DNS01Name returns the owner name of the TXT record for a dns-01
// challenge on domain (RFC 8555 §8.4), fully qualified with a trailing
// dot. A wildcard domain "*.example.com" is validated at its base name,
// so it gives "_acme-challenge.example.com.".
func DNS01Name(domain string) string {
	return "_acme-challenge." + baseDomain(domain) + "."
}

// DNS01Value returns the TXT record value for a dns-01 or dns-account-01
// challenge: the unpadded base64url encoding of SHA-256(keyAuth), 43
// characters (RFC 8555 §8.4). It is acme.DNS01Value, the one place the
// value is computed, offered here beside DNS01Name.
func DNS01Value(keyAuth string) string {
	return acme.DNS01Value(keyAuth)
}

// DNSAccount01Name returns the owner name of the TXT record for a
// dns-account-01 challenge (draft-ietf-acme-dns-account-label):
// "_<label>._acme-challenge.<domain>." where "_<label>" is
// acme.DNSAccountLabel(accountURL), the lowercase, unpadded base32
// encoding of the first 10 bytes of SHA-256(accountURL). Each account gets its own name, so
// several accounts (or several ACME clients) can validate the same domain
// at once without deleting each other's records. The value is
// DNS01Value(keyAuth), as for dns-01.
func DNSAccount01Name(domain, accountURL string) string {
	return acme.DNSAccountLabel(accountURL) + "._acme-challenge." + baseDomain(domain) + "."
}

// DNSPersist01Name returns the owner name of the TXT record for a
// dns-persist-01 challenge: "_validation-persist.<domain>.".
func DNSPersist01Name(domain string) string {
	return "_validation-persist." + baseDomain(domain) + "."
}

// PersistOption is an optional parameter of a dns-persist-01 record, made
// by WithPolicyWildcard or WithPersistUntil.
type PersistOption interface {
	applyPersist(*persistParams)
}

type persistParams struct {
	wildcard     bool
	persistUntil time.Time
}

type persistOptionFunc func(*persistParams)

func (f persistOptionFunc) applyPersist(p *persistParams) { f(p) }

// WithPolicyWildcard adds "policy=wildcard": the record then also
// authorizes wildcard names under the domain. The CA requires it when the
// challenge is for a wildcard.
func WithPolicyWildcard() PersistOption {
	return persistOptionFunc(func(p *persistParams) { p.wildcard = true })
}

// WithPersistUntil adds "persistUntil=<unix seconds>": the CA stops
// accepting the record after t.
func WithPersistUntil(t time.Time) PersistOption {
	return persistOptionFunc(func(p *persistParams) { p.persistUntil = t })
}

// DNSPersist01Value returns the TXT record value for a dns-persist-01
// challenge, an RFC 8659 issue-value:
//
//	letsencrypt.org; accounturi=https://acme.example/acct/1; policy=wildcard; persistUntil=1767225600
//
// issuerDomainName must be one of the challenge's IssuerDomainNames.
// The CA rejects a parameter value holding whitespace, ";" or non-ASCII
// characters, so such an accountURL is an error.
func DNSPersist01Value(issuerDomainName, accountURL string, opts ...PersistOption) (string, error) {
	if issuerDomainName == "" || strings.ContainsAny(issuerDomainName, "; \t") {
		return "", fmt.Errorf("dns-persist-01: invalid issuer domain name %q", issuerDomainName)
	}
	if accountURL == "" {
		return "", errors.New("dns-persist-01: empty account URL")
	}
	if !validIssueParamValue(accountURL) {
		return "", fmt.Errorf("dns-persist-01: account URL %q has characters an issue-value parameter cannot hold", accountURL)
	}
	var p persistParams
	for _, o := range opts {
		o.applyPersist(&p)
	}
	var b strings.Builder
	b.WriteString(issuerDomainName)
	b.WriteString("; accounturi=")
	b.WriteString(accountURL)
	if p.wildcard {
		b.WriteString("; policy=wildcard")
	}
	if !p.persistUntil.IsZero() {
		b.WriteString("; persistUntil=")
		b.WriteString(strconv.FormatInt(p.persistUntil.Unix(), 10))
	}
	return b.String(), nil
}

// validIssueParamValue reports whether v fits RFC 8659's value grammar:
// %x21-3A / %x3C-7E, i.e. visible ASCII except ";".
func validIssueParamValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == ';' {
			return false
		}
	}
	return true
}

// RecordFor returns the TXT record (fully qualified owner name and value)
// that satisfies chal, for the dns-01, dns-account-01 and dns-persist-01
// types. For dns-persist-01 it uses the first of chal.IssuerDomainNames and
// adds policy=wildcard when chal.Wildcard is set.
func RecordFor(chal acme.Challenge) (name, value string, err error) {
	name, value, err = recordFor(chal)
	if err != nil {
		return "", "", err
	}
	// The identifier comes from the CA: nothing it holds reaches a hook
	// or a DNS provider unless it makes a plain DNS name.
	if err := CheckRecordName(name); err != nil {
		return "", "", fmt.Errorf("%s: %w", chal.Type, err)
	}
	if i := strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return "", "", fmt.Errorf("%s: the record value holds a control character (%q)", chal.Type, value[i])
	}
	return name, value, nil
}

// CheckRecordName returns an error unless name (a record owner name such
// as "_acme-challenge.www.example.com.", with or without the final dot)
// is a DNS name that can be handed to a program or provider safely:
// labels of 1 to 63 letters, digits, '-' and '_' ('*' alone as the first
// label), no control character, newline or space, at most 253 bytes
// without the final dot. Names are in A-label (punycode) form.
func CheckRecordName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return errors.New("empty record name")
	}
	if len(n) > 253 {
		return fmt.Errorf("record name %.40q... is longer than 253 bytes", n)
	}
	for i, label := range strings.Split(n, ".") {
		if label == "" {
			return fmt.Errorf("record name %q has an empty label", name)
		}
		if len(label) > 63 {
			return fmt.Errorf("record name %q has a label longer than 63 bytes", name)
		}
		if label == "*" && i == 0 {
			continue
		}
		for _, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
			if !ok {
				return fmt.Errorf("record name %q holds %q, which a DNS name may not", name, r)
			}
		}
	}
	return nil
}

func recordFor(chal acme.Challenge) (name, value string, err error) {
	if chal.Identifier.Type != "" && chal.Identifier.Type != acme.IdentifierDNS {
		return "", "", fmt.Errorf("%s: identifier type %q cannot be validated over DNS", chal.Type, chal.Identifier.Type)
	}
	if baseDomain(chal.Identifier.Value) == "" {
		return "", "", fmt.Errorf("%s: challenge has no identifier", chal.Type)
	}
	domain := chal.Identifier.Value
	switch chal.Type {
	case acme.ChallengeDNS01:
		if chal.KeyAuthorization == "" {
			return "", "", errors.New("dns-01: empty key authorization")
		}
		return DNS01Name(domain), DNS01Value(chal.KeyAuthorization), nil
	case acme.ChallengeDNSAccount01:
		if chal.KeyAuthorization == "" {
			return "", "", errors.New("dns-account-01: empty key authorization")
		}
		if chal.AccountURL == "" {
			return "", "", errors.New("dns-account-01: challenge has no account URL")
		}
		return DNSAccount01Name(domain, chal.AccountURL), DNS01Value(chal.KeyAuthorization), nil
	case acme.ChallengeDNSPersist01:
		if len(chal.IssuerDomainNames) == 0 {
			return "", "", errors.New("dns-persist-01: challenge lists no issuer domain names")
		}
		var opts []PersistOption
		if chal.Wildcard || strings.HasPrefix(domain, "*.") {
			opts = append(opts, WithPolicyWildcard())
		}
		v, err := DNSPersist01Value(chal.IssuerDomainNames[0], chal.AccountURL, opts...)
		if err != nil {
			return "", "", err
		}
		return DNSPersist01Name(domain), v, nil
	default:
		return "", "", fmt.Errorf("challenge type %q has no DNS record", chal.Type)
	}
}

// baseDomain strips a wildcard label and a trailing dot.
func baseDomain(domain string) string {
	domain = strings.TrimPrefix(domain, "*.")
	return strings.TrimSuffix(domain, ".")
}
