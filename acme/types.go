package acme

import (
	"crypto"
	"crypto/x509"
	"time"
)

// Status is the status of an ACME resource (RFC 8555 §7.1.6).
type Status string

// Statuses defined by RFC 8555 §7.1.6.
const (
	StatusPending     Status = "pending"
	StatusReady       Status = "ready"
	StatusProcessing  Status = "processing"
	StatusValid       Status = "valid"
	StatusInvalid     Status = "invalid"
	StatusRevoked     Status = "revoked"
	StatusDeactivated Status = "deactivated"
	StatusExpired     Status = "expired"
)

// IdentifierType is the type of an identifier in an order (RFC 8555 §9.7.7).
type IdentifierType string

// Identifier types: "dns" (RFC 8555) and "ip" (RFC 8738).
const (
	IdentifierDNS IdentifierType = "dns"
	IdentifierIP  IdentifierType = "ip"
)

// Identifier is a name the certificate is for (RFC 8555 §7.1.3).
type Identifier struct {
	Type  IdentifierType `json:"type"`
	Value string         `json:"value"`
}

// ChallengeType names a validation method.
type ChallengeType string

// Challenge types: RFC 8555 §8.3 and §8.4, RFC 8737, and the
// dns-account-01 and dns-persist-01 drafts.
const (
	ChallengeHTTP01       ChallengeType = "http-01"
	ChallengeDNS01        ChallengeType = "dns-01"
	ChallengeTLSALPN01    ChallengeType = "tls-alpn-01"
	ChallengeDNSAccount01 ChallengeType = "dns-account-01"
	ChallengeDNSPersist01 ChallengeType = "dns-persist-01"
)

// Directory is the CA's directory object (RFC 8555 §7.1.1).
type Directory struct {
	NewNonce    string
	NewAccount  string
	NewOrder    string
	NewAuthz    string // optional: pre-authorization, §7.4.1
	RevokeCert  string
	KeyChange   string
	RenewalInfo string // RFC 9773 §4
	Meta        DirectoryMeta
}

// DirectoryMeta is the "meta" field of the directory (RFC 8555 §7.1.1).
type DirectoryMeta struct {
	TermsOfService          string
	Website                 string
	CAAIdentities           []string
	ExternalAccountRequired bool
	// Profiles maps profile names to their human-readable descriptions
	// (draft-ietf-acme-profiles §3).
	Profiles map[string]string
}

// Account is an ACME account (RFC 8555 §7.1.2). Key is the account's
// private key; URL is its key identifier ("kid"), empty until the account
// is registered or looked up.
type Account struct {
	Key                  crypto.Signer
	URL                  string
	Status               Status
	Contact              []string
	TermsOfServiceAgreed bool
	OrdersURL            string
}

// Order is an ACME order (RFC 8555 §7.1.3).
type Order struct {
	URL            string // from the Location header of newOrder
	Status         Status
	Expires        time.Time
	Identifiers    []Identifier
	NotBefore      time.Time
	NotAfter       time.Time
	Error          *Problem
	Authorizations []string
	FinalizeURL    string
	CertificateURL string
	Profile        string // draft-ietf-acme-profiles
	Replaces       string // RFC 9773 §5
	// RetryAfter is when the server said the order may next be polled;
	// zero when it said nothing.
	RetryAfter time.Time
}

// Authorization is an ACME authorization (RFC 8555 §7.1.4).
type Authorization struct {
	URL        string
	Identifier Identifier
	Status     Status
	Expires    time.Time
	Challenges []Challenge
	Wildcard   bool
	RetryAfter time.Time
}

// Challenge is an ACME challenge (RFC 8555 §7.1.5, §8). Identifier,
// Wildcard and KeyAuthorization are not sent by the server: the client
// fills them in from the authorization and the account key so that a
// solver has all it needs in one value.
type Challenge struct {
	Type      ChallengeType
	URL       string
	Status    Status
	Token     string
	Validated time.Time
	Error     *Problem

	Identifier       Identifier
	Wildcard         bool
	KeyAuthorization string
	// AccountURL is the account's URL, needed by dns-account-01 and
	// dns-persist-01.
	AccountURL string
	// IssuerDomainNames lists the CA's issuer domain names offered by a
	// dns-persist-01 challenge.
	IssuerDomainNames []string
}

// Chain is one certificate chain the CA offers for an order: the default
// one or an alternate (RFC 8555 §7.4.2, Link rel="alternate").
type Chain struct {
	URL string
	// PEM is the chain as the server sent it (leaf first).
	PEM []byte
	// Certificates is PEM parsed, leaf first.
	Certificates []*x509.Certificate
}

// RevocationReason is a CRL reason code (RFC 5280 §5.3.1) sent with
// revokeCert (RFC 8555 §7.6).
type RevocationReason int

// Reason codes RFC 8555 §7.6 lets a client send.
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
)

// RenewalInfo is the CA's suggested renewal window for a certificate
// (RFC 9773 §4.2).
type RenewalInfo struct {
	SuggestedWindow struct {
		Start time.Time
		End   time.Time
	}
	ExplanationURL string
	// RetryAfter is when the client should fetch the renewal info again,
	// from the response's Retry-After header.
	RetryAfter time.Time
}
