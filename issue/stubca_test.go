package issue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/keys"
)

// stubCA is an in-process ACME server with the behaviours of CAs that
// certkeeper met in the field: it can leave a failed challenge pending
// with an error attached (and validate again when answered again), and
// issue certificates that are not what was ordered. It checks no
// signature: the acme package's own tests do that.
type stubCA struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	seq    int
	nonce  int
	orders map[string]*stubOrder
	authzs map[string]*stubAuthz
	chals  map[string]*stubChal
	counts map[string]int

	// Validation knobs.
	failFirst     int          // validations that fail before one succeeds; <0: all fail
	failStatus    acme.Status  // status a failed challenge is left in: pending, processing or invalid
	failType      string       // problem type of the failure
	failDetail    string       // the CA's words
	sync          bool         // validate while answering the POST (step-ca) rather than on the next look
	reuseError    *stubProblem // error a fresh challenge already carries (an earlier attempt's)
	invalidAuthz  bool         // new authorizations are invalid from the start
	ignoreAnswers bool         // answers are taken and never acted on
	forgeAuthz    string       // authorizations name this DNS identifier, not the order's

	// Issuance knobs.
	dropName    string // leave this DNS name out of the leaf
	extraName   string // add this DNS name to the leaf
	otherKey    bool   // certify another key than the CSR's
	badInter    bool   // the default chain's intermediate did not sign the leaf
	altBadInter bool   // the alternate chain's intermediate did not sign the leaf
	alternate   bool   // offer an alternate chain (another root name)

	rootKey, interKey, fakeKey *ecdsa.PrivateKey
	root, inter, fakeInter     *x509.Certificate
	altRoot, altInter          *x509.Certificate
	fakeAltInter               *x509.Certificate
	altRootKey                 *ecdsa.PrivateKey
}

type stubProblem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status,omitempty"`
}

type stubOrder struct {
	id     string
	ids    []acme.Identifier
	authzs []string
	chain  []byte
	alt    []byte
	// processing is how many more looks at the order, once finalized,
	// say it is still processing.
	processing int
}

type stubAuthz struct {
	id       string
	ident    acme.Identifier
	wildcard bool
	chals    []string
	status   acme.Status
}

type stubChal struct {
	id, authz string
	typ       acme.ChallengeType
	token     string
	status    acme.Status
	err       *stubProblem
	answers   int
	// due is set when an answer awaits validation (validated on the next look).
	due bool
}

func newStubCA(t *testing.T) *stubCA {
	s := &stubCA{
		t:          t,
		orders:     map[string]*stubOrder{},
		authzs:     map[string]*stubAuthz{},
		chals:      map[string]*stubChal{},
		counts:     map[string]int{},
		failStatus: acme.StatusPending,
		failType:   "urn:ietf:params:acme:error:connection",
		failDetail: "could not connect to validation target",
	}
	s.rootKey, s.root = stubCert(t, "Stub Root", nil, nil, true, nil)
	s.interKey, s.inter = stubCert(t, "Stub Intermediate", s.root, s.rootKey, true, nil)
	// Same name as the real intermediate, another key: a chain with it
	// reads right and does not verify.
	s.fakeKey, s.fakeInter = stubCert(t, "Stub Intermediate", s.root, s.rootKey, true, nil)
	s.altRootKey, s.altRoot = stubCert(t, "Stub Alternate Root", nil, nil, true, nil)
	// The alternate chain: the same intermediate key, cross-signed.
	_, s.altInter = stubCert(t, "Stub Intermediate", s.altRoot, s.altRootKey, true, s.interKey)
	_, s.fakeAltInter = stubCert(t, "Stub Intermediate", s.altRoot, s.altRootKey, true, nil)
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func stubCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, key *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  ca,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}

func (s *stubCA) url(path string) string { return s.srv.URL + path }

func (s *stubCA) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[name]
}

func (s *stubCA) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonce++
	w.Header().Set("Replay-Nonce", fmt.Sprintf("nonce-%d", s.nonce))
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	kind, id := parts[0], ""
	if len(parts) > 1 {
		id = parts[1]
	}
	s.counts[kind]++
	if kind == "dir" {
		s.json(w, 200, map[string]any{
			"newNonce": s.url("/nonce"), "newAccount": s.url("/new-acct"), "newOrder": s.url("/new-order"),
			"revokeCert": s.url("/revoke"), "keyChange": s.url("/key-change"),
		})
		return
	}
	if kind == "nonce" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Method != http.MethodPost {
		s.problem(w, 405, "urn:ietf:params:acme:error:malformed", "POST only")
		return
	}
	var jws struct{ Payload string }
	if err := json.NewDecoder(r.Body).Decode(&jws); err != nil {
		s.problem(w, 400, "urn:ietf:params:acme:error:malformed", err.Error())
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		s.problem(w, 400, "urn:ietf:params:acme:error:malformed", err.Error())
		return
	}
	switch kind {
	case "new-order":
		s.newOrder(w, payload)
	case "order":
		o := s.orders[id]
		if o == nil {
			s.problem(w, 404, "urn:ietf:params:acme:error:malformed", "no such order")
			return
		}
		for _, a := range o.authzs {
			s.settle(s.authzs[a])
		}
		s.json(w, 200, s.orderJSON(o))
		if o.processing > 0 {
			o.processing--
		}
	case "authz":
		a := s.authzs[id]
		s.settle(a)
		s.json(w, 200, s.authzJSON(a))
	case "chal":
		c := s.chals[id]
		if len(payload) > 0 {
			s.answerChal(c)
		} else {
			s.settle(s.authzs[c.authz])
		}
		s.json(w, 200, s.chalJSON(c))
	case "finalize":
		s.finalize(w, s.orders[id], payload)
	case "cert":
		o := s.orders[id]
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		body := o.chain
		if len(parts) > 2 {
			body = o.alt
		} else if o.alt != nil {
			w.Header().Add("Link", fmt.Sprintf("<%s>;rel=\"alternate\"", s.url("/cert/"+id+"/alt")))
		}
		w.Write(body)
	default:
		s.problem(w, 404, "urn:ietf:params:acme:error:malformed", "no such resource")
	}
}

func (s *stubCA) next() string { s.seq++; return fmt.Sprint(s.seq) }

func (s *stubCA) newOrder(w http.ResponseWriter, payload []byte) {
	var req struct{ Identifiers []acme.Identifier }
	if err := json.Unmarshal(payload, &req); err != nil {
		s.problem(w, 400, "urn:ietf:params:acme:error:malformed", err.Error())
		return
	}
	o := &stubOrder{id: s.next(), ids: req.Identifiers}
	for _, ident := range req.Identifiers {
		a := &stubAuthz{id: s.next(), ident: ident, status: acme.StatusPending}
		if v, ok := strings.CutPrefix(ident.Value, "*."); ok {
			// RFC 8555 §7.1.4: the base name, and the wildcard flag.
			a.ident.Value, a.wildcard = v, true
		}
		if s.invalidAuthz {
			a.status = acme.StatusInvalid
		}
		types := []acme.ChallengeType{acme.ChallengeHTTP01, acme.ChallengeTLSALPN01, acme.ChallengeDNS01}
		if ident.Type == acme.IdentifierIP {
			types = types[:2]
		}
		for _, typ := range types {
			c := &stubChal{id: s.next(), authz: a.id, typ: typ, token: "token" + s.next(), status: acme.StatusPending, err: s.reuseError}
			s.chals[c.id] = c
			a.chals = append(a.chals, c.id)
		}
		s.authzs[a.id] = a
		o.authzs = append(o.authzs, a.id)
	}
	s.orders[o.id] = o
	w.Header().Set("Location", s.url("/order/"+o.id))
	s.json(w, 201, s.orderJSON(o))
}

// answerChal takes an answer (a POST of {}): validation now (sync) or at
// the next look.
func (s *stubCA) answerChal(c *stubChal) {
	a := s.authzs[c.authz]
	if a.status != acme.StatusPending || c.status == acme.StatusInvalid || c.status == acme.StatusValid {
		return
	}
	c.answers++
	if s.ignoreAnswers {
		return
	}
	c.due = true
	if s.sync {
		s.validate(c)
	} else {
		c.status = acme.StatusProcessing
	}
}

// settle runs the validations due in a.
func (s *stubCA) settle(a *stubAuthz) {
	for _, id := range a.chals {
		if c := s.chals[id]; c.due {
			s.validate(c)
		}
	}
}

func (s *stubCA) validate(c *stubChal) {
	c.due = false
	a := s.authzs[c.authz]
	if s.failFirst < 0 || c.answers <= s.failFirst {
		c.err = &stubProblem{Type: s.failType, Detail: s.failDetail, Status: 400}
		c.status = s.failStatus
		if s.failStatus == acme.StatusInvalid {
			a.status = acme.StatusInvalid
		}
		return
	}
	c.err, c.status, a.status = nil, acme.StatusValid, acme.StatusValid
}

func (s *stubCA) orderStatus(o *stubOrder) acme.Status {
	if o.chain != nil {
		if o.processing > 0 {
			return acme.StatusProcessing
		}
		return acme.StatusValid
	}
	st := acme.StatusReady
	for _, id := range o.authzs {
		switch s.authzs[id].status {
		case acme.StatusInvalid:
			return acme.StatusInvalid
		case acme.StatusPending:
			st = acme.StatusPending
		}
	}
	return st
}

func (s *stubCA) orderJSON(o *stubOrder) map[string]any {
	m := map[string]any{
		"status":      s.orderStatus(o),
		"identifiers": o.ids,
		"finalize":    s.url("/finalize/" + o.id),
	}
	var az []string
	for _, id := range o.authzs {
		az = append(az, s.url("/authz/"+id))
	}
	m["authorizations"] = az
	if o.chain != nil {
		m["certificate"] = s.url("/cert/" + o.id)
	}
	return m
}

func (s *stubCA) authzJSON(a *stubAuthz) map[string]any {
	var cs []map[string]any
	for _, id := range a.chals {
		cs = append(cs, s.chalJSON(s.chals[id]))
	}
	ident := a.ident
	if s.forgeAuthz != "" {
		ident = acme.Identifier{Type: acme.IdentifierDNS, Value: s.forgeAuthz}
	}
	return map[string]any{"identifier": ident, "wildcard": a.wildcard, "status": a.status, "challenges": cs}
}

func (s *stubCA) chalJSON(c *stubChal) map[string]any {
	m := map[string]any{"type": c.typ, "url": s.url("/chal/" + c.id), "status": c.status, "token": c.token}
	if c.err != nil {
		m["error"] = c.err
	}
	return m
}

func (s *stubCA) finalize(w http.ResponseWriter, o *stubOrder, payload []byte) {
	if s.orderStatus(o) != acme.StatusReady {
		s.problem(w, 403, "urn:ietf:params:acme:error:orderNotReady", "order not ready")
		return
	}
	var req struct{ CSR string }
	if err := json.Unmarshal(payload, &req); err != nil {
		s.problem(w, 400, "urn:ietf:params:acme:error:malformed", err.Error())
		return
	}
	der, err := base64.RawURLEncoding.DecodeString(req.CSR)
	if err != nil {
		s.problem(w, 400, "urn:ietf:params:acme:error:badCSR", err.Error())
		return
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		s.problem(w, 400, "urn:ietf:params:acme:error:badCSR", err.Error())
		return
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  csr.IPAddresses,
	}
	for _, n := range csr.DNSNames {
		if n != s.dropName {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if s.extraName != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, s.extraName)
	}
	pub := csr.PublicKey
	if s.otherKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = k.Public()
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, tmpl, s.inter, pub, s.interKey)
	if err != nil {
		s.problem(w, 500, "urn:ietf:params:acme:error:serverInternal", err.Error())
		return
	}
	chain := func(inter *x509.Certificate) []byte {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
		return append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
	}
	o.chain = chain(s.inter)
	if s.badInter {
		o.chain = chain(s.fakeInter)
	}
	if s.alternate {
		o.alt = chain(s.altInter)
		if s.altBadInter {
			o.alt = chain(s.fakeAltInter)
		}
	}
	s.json(w, 200, s.orderJSON(o))
}

func (s *stubCA) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *stubCA) problem(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(stubProblem{Type: typ, Detail: detail, Status: status})
}

// issuer returns an Issuer on the stub with a recording solver for each
// of the types given.
func (s *stubCA) issuer(types ...acme.ChallengeType) (*Issuer, *fakeSolver) {
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		s.t.Fatal(err)
	}
	fs := &fakeSolver{}
	solvers := map[acme.ChallengeType]challenge.Solver{}
	for _, t := range types {
		solvers[t] = fs
	}
	return &Issuer{
		Client:  &acme.Client{DirectoryURL: s.url("/dir")},
		Account: acme.Account{Key: key, URL: s.url("/acct/1")},
		Solvers: solvers,
		timing:  &watchTiming{schedule: []time.Duration{200 * time.Millisecond}, staleGrace: 500 * time.Millisecond},
	}, fs
}

// fakeSolver records what it is asked to present and clean up.
type fakeSolver struct {
	mu        sync.Mutex
	presented []acme.Challenge
	cleaned   []acme.Challenge
}

func (f *fakeSolver) Present(_ context.Context, c acme.Challenge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.presented = append(f.presented, c)
	return nil
}

func (f *fakeSolver) CleanUp(_ context.Context, c acme.Challenge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleaned = append(f.cleaned, c)
	return nil
}

func (f *fakeSolver) counts() (presented, cleaned int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.presented), len(f.cleaned)
}
