package acmetest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// Endpoint names one resource of the fake CA, with the names that
// acme.RequestInfo.Endpoint uses, so a test can count or fault the
// requests a client makes to it.
type Endpoint string

// The resources of the fake CA (RFC 8555 §7.1, RFC 9773 §4).
const (
	EndpointDirectory   Endpoint = "directory"   // GET /dir, §7.1.1
	EndpointNewNonce    Endpoint = "newNonce"    // HEAD or GET /nonce, §7.2
	EndpointNewAccount  Endpoint = "newAccount"  // POST /new-acct, §7.3
	EndpointAccount     Endpoint = "account"     // POST /acct/ID (and /acct/ID/orders), §7.3.2
	EndpointKeyChange   Endpoint = "keyChange"   // POST /key-change, §7.3.5
	EndpointNewOrder    Endpoint = "newOrder"    // POST /new-order, §7.4
	EndpointOrder       Endpoint = "order"       // POST-as-GET /order/ID, §7.1.3
	EndpointAuthz       Endpoint = "authz"       // POST /authz/ID, §7.5
	EndpointChallenge   Endpoint = "challenge"   // POST /chal/ID, §7.5.1
	EndpointFinalize    Endpoint = "finalize"    // POST /finalize/ID, §7.4
	EndpointCert        Endpoint = "cert"        // POST-as-GET /cert/ID[/N], §7.4.2
	EndpointRevokeCert  Endpoint = "revokeCert"  // POST /revoke, §7.6
	EndpointRenewalInfo Endpoint = "renewalInfo" // GET /renewal-info/CERTID, RFC 9773 §4.2
)

// CAOptions configures a fake CA. The zero value is a CA that approves
// every validation as soon as the client asks for it (§7.5.1) and issues
// 90-day certificates on a single chain.
type CAOptions struct {
	// Now is the CA's clock: it sets the validity of issued certificates,
	// the expiry of orders and authorizations and the ARI windows. Nil
	// means time.Now. Only what the CA writes follows it; the server's own
	// timeouts use the real clock.
	Now func() time.Time

	// CertificateLifetime is the validity of issued certificates
	// (NotAfter - NotBefore). 0 means 90 days.
	CertificateLifetime time.Duration
	// Profiles are the certificate profiles offered in the directory's
	// meta (draft-ietf-acme-profiles): name → certificate lifetime. An order
	// naming another profile is refused with invalidProfile. Nil offers none
	// and accepts no profile.
	Profiles map[string]time.Duration
	// AlternateChains is how many alternate chains (§7.4.2, Link
	// rel="alternate") each certificate has besides the default one: the
	// same leaf under the same intermediate key, cross-signed by another
	// root. 0 means none.
	AlternateChains int

	// EAB, when not empty, makes the CA require external account binding
	// (§7.3.4): it maps each key ID to its HMAC key. Accounts are then
	// created only with a binding signed (HS256) by one of these keys.
	EAB map[string][]byte

	// HTTP01Addr, when set ("127.0.0.1:PORT"), makes the CA validate
	// http-01 challenges for real (§8.3): it fetches
	// http://HTTP01Addr/.well-known/acme-challenge/TOKEN with the
	// identifier as Host, as a CA that resolved every name to that address
	// would. Empty: http-01 validations are decided by the controller.
	HTTP01Addr string
	// TLSALPN01Addr, when set, makes the CA validate tls-alpn-01
	// challenges for real (RFC 8737 §3) by a TLS handshake with that
	// address. Empty: decided by the controller.
	TLSALPN01Addr string
	// DNSServer, when set ("127.0.0.1:PORT"), makes the CA validate dns-01
	// challenges for real (§8.4) by asking that server for the TXT records
	// of _acme-challenge.NAME. Empty: decided by the controller.
	DNSServer string
	// ValidationTimeout bounds one real validation. 0 means 10 s.
	ValidationTimeout time.Duration

	// Challenges are the challenge types offered for a DNS name, in this
	// order (RFC 8555 §8, RFC 8737, and the dns-account-01 and
	// dns-persist-01 drafts). A wildcard is offered the DNS-based ones among
	// them (dns-01, dns-account-01, dns-persist-01), an IP address http-01
	// and tls-alpn-01 among them (RFC 8738 §7). dns-account-01 and
	// dns-persist-01 are always decided by the controller (approved unless
	// held or failed). Nil means http-01, tls-alpn-01 and dns-01.
	Challenges []acme.ChallengeType
	// IssuerDomainNames are the issuer domain names a dns-persist-01
	// challenge offers ("issuer-domain-names"). Nil means
	// ["ca.example.test"].
	IssuerDomainNames []string

	// ReuseAuthorizations makes a new order reuse the account's valid,
	// unexpired authorization for the same identifier (and wildcard flag)
	// instead of making a new one, as Pebble and Let's Encrypt do (§7.1.3,
	// §7.4). ReusePendingAuthorizations reuses pending ones too, failed
	// validation's error and all, as some CAs do.
	ReuseAuthorizations, ReusePendingAuthorizations bool

	// ProcessingPolls is how many reads of an order after its finalize
	// still find it "processing" (§7.1.6, §7.4); the finalize answer says
	// processing too when it is above 0. 0 means the order is valid as
	// soon as finalize answers.
	ProcessingPolls int
	// RetryAfter, when above 0, is sent (in whole seconds, rounded up) as
	// Retry-After on every answer that leaves the client to poll: an order
	// processing, an authorization or challenge still pending or
	// processing (§7.4, §8.2).
	RetryAfter time.Duration

	// FailedChallengeStatus is the status a failed validation leaves its
	// challenge in. "" or invalid: invalid, and its authorization invalid
	// (§7.1.6). Pending or processing: the challenge keeps that status with
	// the error attached and its authorization stays pending, as some CAs
	// do; an answer to it validates again.
	FailedChallengeStatus acme.Status

	// HTTP2 makes the server of StartCA offer HTTP/2 (ALPN "h2") besides
	// HTTP/1.1; a ConnectionReset fault then resets the request's stream
	// (RST_STREAM) rather than the connection, as HTTP/2 front ends do.
	HTTP2 bool

	// Tamper, when set, is called with every JSON document the CA is about
	// to send (the answer to a request to endpoint: an order, an
	// authorization, a challenge, an account, the directory) and may change
	// it, to make the CA misbehave in ways a client must catch, such as an
	// authorization for an identifier that was not ordered. It is called
	// with the CA's lock held and must not call the CA's methods.
	Tamper func(endpoint Endpoint, doc map[string]any)
	// Misissue, when set, is called before each certificate is signed and
	// may change what is issued (names, key, chains), for tests of a
	// client's checks of what it receives. Same rules as Tamper.
	Misissue func(*Issuance)
}

// CA is an in-process ACME server (RFC 8555) for tests: an HTTPS server on
// 127.0.0.1 (StartCA), or a handler reached through an in-memory transport
// (NewMemoryCA, for testing/synctest), that checks what a strict CA checks (JWS signatures, nonces,
// the "url" header, kid vs jwk) and issues real certificates from an
// in-memory CA, with a controller that lets a test decide validations,
// inject faults and move the clock (through CAOptions.Now).
//
// It keeps everything in memory and forgets it on Close. By default it
// reuses no authorization across orders (see
// CAOptions.ReuseAuthorizations) and offers http-01, tls-alpn-01 and
// dns-01 for DNS names (dns-01 only for wildcards), http-01 and tls-alpn-01
// for IP addresses (RFC 8738); CAOptions.Challenges adds dns-account-01 and
// dns-persist-01. All methods are safe for concurrent use.
type CA struct {
	// DirectoryURL is the URL of the directory (§7.1.1), to use as
	// acme.Client.DirectoryURL.
	DirectoryURL string

	srv    *httptest.Server
	base   string
	opts   CAOptions
	issuer *issuer
	closed chan struct{}
	wg     sync.WaitGroup // validations waiting on the controller
	once   sync.Once

	mu       sync.Mutex
	nonces   map[string]bool
	seq      int
	counts   map[Endpoint]int
	faults   map[Endpoint][]CAFault
	accounts map[string]*caAccount // by URL
	orders   map[string]*caOrder   // by id
	authzs   map[string]*caAuthz   // by id
	chals    map[string]*caChal    // by id
	certs    map[string]*caCert    // by id
	control  control
}

// StartCA starts a fake CA on 127.0.0.1 on a free port. Stop it with Close.
// It fails only if the in-memory CA's keys cannot be made or opts is
// invalid. For a CA without a listener, see NewMemoryCA.
func StartCA(opts CAOptions) (*CA, error) {
	ca, err := newCA(opts)
	if err != nil {
		return nil, err
	}
	ca.srv = httptest.NewUnstartedServer(http.HandlerFunc(ca.handle))
	ca.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	ca.srv.EnableHTTP2 = opts.HTTP2
	ca.srv.StartTLS()
	ca.base = ca.srv.URL
	ca.DirectoryURL = ca.base + "/dir"
	return ca, nil
}

// newCA makes a CA with the defaults of opts filled in, serving nothing
// yet: the caller sets base and DirectoryURL.
func newCA(opts CAOptions) (*CA, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CertificateLifetime <= 0 {
		opts.CertificateLifetime = 90 * 24 * time.Hour
	}
	if opts.ValidationTimeout <= 0 {
		opts.ValidationTimeout = 10 * time.Second
	}
	if opts.AlternateChains < 0 {
		return nil, errors.New("acmetest: negative AlternateChains")
	}
	switch opts.FailedChallengeStatus {
	case "", acme.StatusInvalid, acme.StatusPending, acme.StatusProcessing:
	default:
		return nil, errors.New("acmetest: FailedChallengeStatus " + string(opts.FailedChallengeStatus) + " is not invalid, pending or processing")
	}
	if opts.Challenges == nil {
		opts.Challenges = []acme.ChallengeType{acme.ChallengeHTTP01, acme.ChallengeTLSALPN01, acme.ChallengeDNS01}
	}
	if opts.IssuerDomainNames == nil {
		opts.IssuerDomainNames = []string{"ca.example.test"}
	}
	iss, err := newIssuer(opts.Now(), 1+opts.AlternateChains)
	if err != nil {
		return nil, err
	}
	ca := &CA{
		opts:     opts,
		issuer:   iss,
		closed:   make(chan struct{}),
		nonces:   map[string]bool{},
		counts:   map[Endpoint]int{},
		faults:   map[Endpoint][]CAFault{},
		accounts: map[string]*caAccount{},
		orders:   map[string]*caOrder{},
		authzs:   map[string]*caAuthz{},
		chals:    map[string]*caChal{},
		certs:    map[string]*caCert{},
	}
	ca.control.init()
	return ca, nil
}

// NewTestCA starts a fake CA for the test t and stops it when t ends. It
// fails t if the CA cannot start.
func NewTestCA(t testing.TB, opts CAOptions) *CA {
	t.Helper()
	ca, err := StartCA(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	return ca
}

// Close stops the server, ends every held validation (they stay
// pending) and waits for the CA's goroutines. It is safe to call more
// than once.
func (ca *CA) Close() {
	ca.once.Do(func() {
		close(ca.closed)
		if ca.srv != nil {
			ca.srv.CloseClientConnections()
			ca.srv.Close()
		}
		ca.wg.Wait()
	})
}

// HTTPClient returns a new HTTP client for acme.Client.HTTPClient: for a
// CA from StartCA, one that trusts the CA's server certificate (and
// nothing else); for one from NewMemoryCA, one whose transport is
// Transport.
func (ca *CA) HTTPClient() *http.Client {
	if ca.srv == nil {
		return &http.Client{Transport: ca.Transport()}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.TLSRoots()}
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// TLSRoots returns a pool holding the certificate of the CA's HTTPS
// server. It is not what signs issued certificates: see Roots.
func (ca *CA) TLSRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.srv.Certificate())
	return pool
}

// Roots returns a pool of the roots that issued certificates chain to:
// one for the default chain and one per alternate chain.
func (ca *CA) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, r := range ca.issuer.roots {
		pool.AddCert(r)
	}
	return pool
}

// Intermediates returns the intermediate certificates, the default chain's
// first. They all certify the same key.
func (ca *CA) Intermediates() []*x509.Certificate {
	return slices.Clone(ca.issuer.inters)
}

// Requests returns how many requests endpoint has received, faulted ones
// included.
func (ca *CA) Requests(endpoint Endpoint) int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.counts[endpoint]
}

// Addr returns the server's address, 127.0.0.1:PORT, or nil for a CA
// from NewMemoryCA, which has no listener.
func (ca *CA) Addr() net.Addr {
	if ca.srv == nil {
		return nil
	}
	return ca.srv.Listener.Addr()
}

// Problem builds the problem document (RFC 7807, §6.7) that a test gives
// to the controller: typ is the ACME error type, detail the text.
func Problem(typ acme.ProblemType, detail string) acme.Problem {
	return acme.Problem{Type: typ, Detail: detail, Status: http.StatusForbidden}
}
