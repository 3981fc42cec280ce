package acme

import (
	"bytes"
	"crypto"
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
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// stub is a small in-memory ACME server for protocol edge cases. It checks
// what a strict CA checks (JWS signature, nonce freshness, url header,
// content type, kid vs jwk) and has knobs to inject faults.
//
// New tests belong on acmetest's fake CA (package acme_test, see
// fakeca_*_test.go and export_test.go), which now has the byte-level
// faults too (CAFault.Answer, CAFault.Rewrite). What is left here: the
// tests of reliability_test.go, progress_test.go and nonce_test.go, which
// read the client's unexported state, and TestFlow, which relies on the
// stub's laxness (a "replaces" of no certificate, revocation by any key)
// and on its fixed chains; and HTTP/2 stream resets (fault.abort), which
// the fake CA, an HTTP/1.1 server, cannot send.
type stub struct {
	srv  *httptest.Server // nil for an in-memory stub (newMemStub)
	base string           // the URL of the server, without a final slash

	mu       sync.Mutex
	nonces   map[string]bool
	nonceSeq int
	seq      int
	// counts and times of requests per endpoint name (see route).
	counts map[string]int
	times  map[string][]time.Time
	// faults are consumed in order, per endpoint, before normal handling.
	faults map[string][]fault

	accounts map[string]*stubAccount // by URL
	orders   map[string]*stubOrder   // by id
	authzs   map[string]*stubAuthz   // by id
	chals    map[string]*stubChal    // by id
	revoked  map[string]bool

	// Knobs.
	processingPolls int // polls an order stays processing after finalize

	// Recorded for assertions.
	accepts int // challenge POSTs with {} actually processed

	chainPEM, altPEM []byte
}

type fault struct {
	status     int
	problem    ProblemType
	detail     string
	retryAfter string
	// abort panics with http.ErrAbortHandler before acting: over HTTP/2
	// the stream is reset (RST_STREAM), over HTTP/1 the connection closed.
	abort bool
}

type stubAccount struct {
	url     string
	key     *jose.JSONWebKey
	status  Status
	contact []string
}

type stubOrder struct {
	id        string
	acct      string
	ids       []Identifier
	authzs    []string // ids
	finalized bool
	procLeft  int
	profile   string
	replaces  string
}

type stubAuthz struct {
	id       string
	ident    Identifier
	chals    []string
	status   Status
	accepted bool
}

type stubChal struct {
	id, authz string
	typ       ChallengeType
	token     string
	status    Status
	err       *wireProblem
}

func newStub() *stub {
	s := &stub{
		nonces:   map[string]bool{},
		counts:   map[string]int{},
		times:    map[string][]time.Time{},
		faults:   map[string][]fault{},
		accounts: map[string]*stubAccount{},
		orders:   map[string]*stubOrder{},
		authzs:   map[string]*stubAuthz{},
		chals:    map[string]*stubChal{},
		revoked:  map[string]bool{},
	}
	s.chainPEM, s.altPEM = makeChains()
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.base = s.srv.URL
	return s
}

// newMemStub returns a stub with no server: memClient's requests call its
// handler in the requesting goroutine, so that it runs inside a
// testing/synctest bubble (a loopback connection would keep the bubble
// from ever being idle, and its fake clock from moving). Faults that
// hijack the connection do not work in it.
func newMemStub() *stub {
	s := &stub{
		nonces:   map[string]bool{},
		counts:   map[string]int{},
		times:    map[string][]time.Time{},
		faults:   map[string][]fault{},
		accounts: map[string]*stubAccount{},
		orders:   map[string]*stubOrder{},
		authzs:   map[string]*stubAuthz{},
		chals:    map[string]*stubChal{},
		revoked:  map[string]bool{},
		base:     "https://ca.test",
	}
	s.chainPEM, s.altPEM = makeChains()
	return s
}

// memClient is a Client for the stub with a transport that calls s's
// handler, and the real retry and poll schedules (in a synctest bubble
// they cost no time).
func (s *stub) memClient() *Client {
	c := &Client{DirectoryURL: s.url("/dir")}
	c.HTTPClient = &http.Client{Transport: handlerTransport{http.HandlerFunc(s.handle)}}
	return c
}

// handlerTransport answers each request by calling a handler directly.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func (s *stub) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

func (s *stub) url(p string) string { return s.base + p }

// client returns a Client for the stub with fast retry and poll schedules.
func (s *stub) client() *Client {
	return &Client{
		DirectoryURL:  s.url("/dir"),
		retrySchedule: []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond},
		pollSchedule:  []time.Duration{time.Millisecond, 2 * time.Millisecond},
	}
}

func (s *stub) addFault(endpoint string, f ...fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = append(s.faults[endpoint], f...)
}

func (s *stub) count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

func (s *stub) timesOf(endpoint string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times[endpoint]...)
}

func (s *stub) newNonce() string {
	s.nonceSeq++
	n := base64.RawURLEncoding.EncodeToString([]byte("nonce-" + strconv.Itoa(s.nonceSeq)))
	s.nonces[n] = true
	return n
}

func (s *stub) nextID() string {
	s.seq++
	return strconv.Itoa(s.seq)
}

// route names the endpoint of a path, as RequestInfo.Endpoint does.
func route(path string) (endpoint, id string) {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)
	if len(parts) == 2 {
		id = parts[1]
	}
	switch parts[0] {
	case "dir":
		return "directory", ""
	case "nonce":
		return "newNonce", ""
	case "new-acct":
		return "newAccount", ""
	case "acct":
		return "account", id
	case "key-change":
		return "keyChange", ""
	case "new-order":
		return "newOrder", ""
	case "order":
		return "order", id
	case "authz":
		return "authz", id
	case "chal":
		return "challenge", id
	case "finalize":
		return "finalize", id
	case "cert":
		return "cert", id
	case "revoke":
		return "revokeCert", ""
	case "ari":
		return "renewalInfo", id
	}
	return "", ""
}

func (s *stub) handle(w http.ResponseWriter, r *http.Request) {
	endpoint, id := route(r.URL.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[endpoint]++
	s.times[endpoint] = append(s.times[endpoint], time.Now())

	var f *fault
	if q := s.faults[endpoint]; len(q) > 0 {
		f = &q[0]
		s.faults[endpoint] = q[1:]
	}
	if f != nil && f.abort {
		s.mu.Unlock()
		defer s.mu.Lock()
		panic(http.ErrAbortHandler)
	}
	if f != nil {
		w.Header().Set("Replay-Nonce", s.newNonce())
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		s.problem(w, f.status, f.problem, f.detail)
		return
	}
	s.serve(w, r, endpoint, id)
}

func (s *stub) problem(w http.ResponseWriter, status int, typ ProblemType, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wireProblem{Type: typ, Detail: detail, Status: status})
}

func (s *stub) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// verified is a request whose JWS checked out.
type verified struct {
	payload []byte
	acct    *stubAccount // nil for jwk-signed requests
	jwk     *jose.JSONWebKey
}

var algs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.EdDSA}

// verify checks the JWS of a POST. On failure it writes the problem and
// returns false.
func (s *stub) verify(w http.ResponseWriter, r *http.Request) (verified, bool) {
	var v verified
	if r.Method != http.MethodPost {
		s.problem(w, http.StatusMethodNotAllowed, ProblemMalformed, "POST only")
		return v, false
	}
	if ct := r.Header.Get("Content-Type"); ct != contentTypeJOSE {
		s.problem(w, http.StatusUnsupportedMediaType, ProblemMalformed, "bad content type "+ct)
		return v, false
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), baseUserAgent) {
		s.problem(w, http.StatusBadRequest, ProblemMalformed, "no user agent")
		return v, false
	}
	body := new(bytes.Buffer)
	body.ReadFrom(r.Body)
	jws, err := jose.ParseSigned(body.String(), algs)
	if err != nil {
		s.problem(w, http.StatusBadRequest, ProblemMalformed, err.Error())
		return v, false
	}
	if strings.Contains(body.String(), `"signatures"`) {
		s.problem(w, http.StatusBadRequest, ProblemMalformed, "not flattened")
		return v, false
	}
	h := jws.Signatures[0].Protected
	if !s.nonces[h.Nonce] {
		w.Header().Set("Replay-Nonce", s.newNonce())
		s.problem(w, http.StatusBadRequest, ProblemBadNonce, "stale nonce "+h.Nonce)
		return v, false
	}
	delete(s.nonces, h.Nonce)
	w.Header().Set("Replay-Nonce", s.newNonce())
	if u, _ := h.ExtraHeaders["url"].(string); u != s.url(r.URL.Path) {
		s.problem(w, http.StatusUnauthorized, ProblemUnauthorized, "url header "+u)
		return v, false
	}
	var key any
	switch {
	case h.JSONWebKey != nil && h.KeyID != "":
		s.problem(w, http.StatusBadRequest, ProblemMalformed, "both jwk and kid")
		return v, false
	case h.JSONWebKey != nil:
		v.jwk = h.JSONWebKey
		key = h.JSONWebKey
	default:
		a := s.accounts[h.KeyID]
		if a == nil {
			s.problem(w, http.StatusBadRequest, ProblemAccountDoesNotExist, "no account "+h.KeyID)
			return v, false
		}
		if a.status != StatusValid {
			s.problem(w, http.StatusUnauthorized, ProblemUnauthorized, "account "+string(a.status))
			return v, false
		}
		v.acct = a
		key = a.key
	}
	v.payload, err = jws.Verify(key)
	if err != nil {
		s.problem(w, http.StatusBadRequest, ProblemMalformed, "bad signature")
		return v, false
	}
	return v, true
}

func thumb(k *jose.JSONWebKey) string {
	tp, _ := k.Thumbprint(crypto.SHA256)
	return string(tp)
}

func (s *stub) accountByKey(k *jose.JSONWebKey) *stubAccount {
	for _, a := range s.accounts {
		if thumb(a.key) == thumb(k) {
			return a
		}
	}
	return nil
}

func (s *stub) serve(w http.ResponseWriter, r *http.Request, endpoint, id string) {
	switch endpoint {
	case "directory":
		s.writeJSON(w, 200, map[string]any{
			"newNonce": s.url("/nonce"), "newAccount": s.url("/new-acct"), "newOrder": s.url("/new-order"),
			"revokeCert": "/revoke", // relative on purpose
			"keyChange":  s.url("/key-change"), "renewalInfo": s.url("/ari/"),
			"meta": map[string]any{
				"termsOfService": "https://example.com/tos",
				"website":        "https://example.com",
				"caaIdentities":  []string{"example.com", "example.net"},
				"profiles":       map[string]string{"classic": "the usual", "shortlived": "6 days"},
			},
		})
		return
	case "newNonce":
		w.Header().Set("Replay-Nonce", s.newNonce())
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(204)
		}
		return
	}
	v, ok := s.verify(w, r)
	if !ok {
		return
	}
	switch endpoint {
	case "newAccount":
		s.newAccount(w, v)
	case "account":
		s.account(w, r, v)
	case "keyChange":
		s.keyChange(w, v)
	case "newOrder":
		s.newOrder(w, v)
	case "order":
		s.order(w, v, id)
	case "authz":
		s.authz(w, v, id)
	case "challenge":
		s.challenge(w, v, id)
	case "finalize":
		s.finalize(w, v, id)
	case "cert":
		s.cert(w, r, v, id)
	case "revokeCert":
		s.revoke(w, v)
	default:
		s.problem(w, 404, ProblemMalformed, "no such endpoint")
	}
}

func (s *stub) accountJSON(a *stubAccount) map[string]any {
	return map[string]any{"status": a.status, "contact": a.contact, "orders": a.url + "/orders"}
}

func (s *stub) newAccount(w http.ResponseWriter, v verified) {
	if v.jwk == nil {
		s.problem(w, 400, ProblemMalformed, "newAccount needs jwk")
		return
	}
	var req struct {
		Contact            []string `json:"contact"`
		OnlyReturnExisting bool     `json:"onlyReturnExisting"`
	}
	if err := json.Unmarshal(v.payload, &req); err != nil {
		s.problem(w, 400, ProblemMalformed, err.Error())
		return
	}
	if a := s.accountByKey(v.jwk); a != nil {
		w.Header().Set("Location", a.url)
		s.writeJSON(w, 200, s.accountJSON(a))
		return
	}
	if req.OnlyReturnExisting {
		s.problem(w, 400, ProblemAccountDoesNotExist, "No account exists with the provided key")
		return
	}
	a := &stubAccount{url: s.url("/acct/" + s.nextID()), key: v.jwk, status: StatusValid, contact: req.Contact}
	s.accounts[a.url] = a
	w.Header().Set("Location", "/acct/"+strings.TrimPrefix(a.url, s.url("/acct/"))) // relative
	s.writeJSON(w, 201, s.accountJSON(a))
}

func (s *stub) account(w http.ResponseWriter, r *http.Request, v verified) {
	a := v.acct
	if a == nil || a.url != s.url(r.URL.Path) {
		s.problem(w, 403, ProblemUnauthorized, "not your account")
		return
	}
	if len(v.payload) == 0 { // POST-as-GET, as Pebble and Boulder want
		s.writeJSON(w, 200, s.accountJSON(a))
		return
	}
	if string(v.payload) == "{}" { // Pebble refuses the old empty update
		s.problem(w, 400, ProblemMalformed, "use POST-as-GET to fetch the account")
		return
	}
	var req struct {
		Contact *[]string `json:"contact"`
		Status  Status    `json:"status"`
	}
	if err := json.Unmarshal(v.payload, &req); err != nil {
		s.problem(w, 400, ProblemMalformed, err.Error())
		return
	}
	if req.Contact != nil {
		a.contact = *req.Contact
	}
	if req.Status == StatusDeactivated {
		a.status = StatusDeactivated
	}
	s.writeJSON(w, 200, s.accountJSON(a))
}

func (s *stub) keyChange(w http.ResponseWriter, v verified) {
	if v.acct == nil {
		s.problem(w, 400, ProblemMalformed, "outer must use kid")
		return
	}
	inner, err := jose.ParseSigned(string(v.payload), algs)
	if err != nil {
		s.problem(w, 400, ProblemMalformed, "inner: "+err.Error())
		return
	}
	h := inner.Signatures[0].Protected
	if h.JSONWebKey == nil || h.Nonce != "" || h.ExtraHeaders["url"] != s.url("/key-change") {
		s.problem(w, 400, ProblemMalformed, "inner header")
		return
	}
	payload, err := inner.Verify(h.JSONWebKey)
	if err != nil {
		s.problem(w, 400, ProblemMalformed, "inner signature")
		return
	}
	var req struct {
		Account string          `json:"account"`
		OldKey  jose.JSONWebKey `json:"oldKey"`
	}
	if err := json.Unmarshal(payload, &req); err != nil || req.Account != v.acct.url || thumb(&req.OldKey) != thumb(v.acct.key) {
		s.problem(w, 400, ProblemMalformed, "inner payload")
		return
	}
	v.acct.key = h.JSONWebKey
	s.writeJSON(w, 200, s.accountJSON(v.acct))
}

func (s *stub) newOrder(w http.ResponseWriter, v verified) {
	var req struct {
		Identifiers []Identifier `json:"identifiers"`
		Profile     string       `json:"profile"`
		Replaces    string       `json:"replaces"`
	}
	if err := json.Unmarshal(v.payload, &req); err != nil || len(req.Identifiers) == 0 {
		s.problem(w, 400, ProblemMalformed, "bad order")
		return
	}
	o := &stubOrder{id: s.nextID(), acct: v.acct.url, ids: req.Identifiers, profile: req.Profile, replaces: req.Replaces}
	for _, ident := range req.Identifiers {
		az := &stubAuthz{id: s.nextID(), ident: ident, status: StatusPending}
		for _, typ := range []ChallengeType{ChallengeHTTP01, ChallengeDNS01, ChallengeDNSPersist01} {
			ch := &stubChal{id: s.nextID(), authz: az.id, typ: typ, token: "tok" + s.nextID(), status: StatusPending}
			s.chals[ch.id] = ch
			az.chals = append(az.chals, ch.id)
		}
		s.authzs[az.id] = az
		o.authzs = append(o.authzs, az.id)
	}
	s.orders[o.id] = o
	w.Header().Set("Location", s.url("/order/"+o.id))
	s.writeJSON(w, 201, s.orderJSON(o))
}

func (s *stub) orderStatus(o *stubOrder) Status {
	all := true
	for _, id := range o.authzs {
		switch s.authzs[id].status {
		case StatusInvalid:
			return StatusInvalid
		case StatusValid:
		default:
			all = false
		}
	}
	switch {
	case !all:
		return StatusPending
	case !o.finalized:
		return StatusReady
	case o.procLeft > 0:
		return StatusProcessing
	}
	return StatusValid
}

func (s *stub) orderJSON(o *stubOrder) map[string]any {
	m := map[string]any{
		"status": s.orderStatus(o), "expires": "2030-01-01T00:00:00Z", "identifiers": o.ids,
		"finalize": s.url("/finalize/" + o.id),
	}
	var az []string
	for _, id := range o.authzs {
		az = append(az, s.url("/authz/"+id))
	}
	m["authorizations"] = az
	if m["status"] == StatusValid {
		m["certificate"] = s.url("/cert/" + o.id)
	}
	if m["status"] == StatusInvalid {
		m["error"] = wireProblem{Type: ProblemUnauthorized, Detail: "authorizations failed", Status: 403}
	}
	if o.profile != "" {
		m["profile"] = o.profile
	}
	if o.replaces != "" {
		m["replaces"] = o.replaces
	}
	return m
}

func (s *stub) order(w http.ResponseWriter, v verified, id string) {
	o := s.orders[id]
	if o == nil || len(v.payload) != 0 {
		s.problem(w, 404, ProblemMalformed, "no order, or not POST-as-GET")
		return
	}
	if s.orderStatus(o) == StatusProcessing {
		o.procLeft--
	}
	s.writeJSON(w, 200, s.orderJSON(o))
}

func (s *stub) chalJSON(ch *stubChal) map[string]any {
	m := map[string]any{"type": ch.typ, "url": s.url("/chal/" + ch.id), "status": ch.status, "token": ch.token}
	if ch.typ == ChallengeDNSPersist01 {
		m["issuer-domain-names"] = []string{"ca.example"}
	}
	if ch.err != nil {
		m["error"] = ch.err
	}
	return m
}

func (s *stub) authzJSON(az *stubAuthz) map[string]any {
	var chals []map[string]any
	for _, id := range az.chals {
		chals = append(chals, s.chalJSON(s.chals[id]))
	}
	return map[string]any{"identifier": az.ident, "status": az.status, "expires": "2030-01-01T00:00:00Z", "challenges": chals}
}

func (s *stub) authz(w http.ResponseWriter, v verified, id string) {
	az := s.authzs[id]
	if az == nil {
		s.problem(w, 404, ProblemMalformed, "no authz")
		return
	}
	if len(v.payload) != 0 {
		az.status = StatusDeactivated
		s.writeJSON(w, 200, s.authzJSON(az))
		return
	}
	if az.accepted && az.status == StatusPending {
		s.settle(az)
	}
	s.writeJSON(w, 200, s.authzJSON(az))
}

// settle ends validation: every accepted challenge becomes valid (a
// failed validation is the fake CA's business: acme/fakeca_test.go).
func (s *stub) settle(az *stubAuthz) {
	for _, cid := range az.chals {
		ch := s.chals[cid]
		if ch.status != StatusProcessing {
			continue
		}
		ch.status = StatusValid
		az.status = StatusValid
	}
}

func (s *stub) challenge(w http.ResponseWriter, v verified, id string) {
	ch := s.chals[id]
	if ch == nil {
		s.problem(w, 404, ProblemMalformed, "no challenge")
		return
	}
	w.Header().Add("Link", fmt.Sprintf(`<%s>;rel="up"`, s.url("/authz/"+ch.authz)))
	if len(v.payload) == 0 { // POST-as-GET
		s.writeJSON(w, 200, s.chalJSON(ch))
		return
	}
	if string(v.payload) != "{}" {
		s.problem(w, 400, ProblemMalformed, "accept wants {}")
		return
	}
	if ch.status != StatusPending {
		s.problem(w, 400, ProblemMalformed, "challenge is "+string(ch.status))
		return
	}
	s.accepts++
	ch.status = StatusProcessing
	az := s.authzs[ch.authz]
	az.accepted = true
	s.writeJSON(w, 200, s.chalJSON(ch))
}

func (s *stub) finalize(w http.ResponseWriter, v verified, id string) {
	o := s.orders[id]
	if o == nil {
		s.problem(w, 404, ProblemMalformed, "no order")
		return
	}
	if s.orderStatus(o) != StatusReady {
		s.problem(w, 403, ProblemOrderNotReady, "order is "+string(s.orderStatus(o)))
		return
	}
	var req struct {
		CSR string `json:"csr"`
	}
	if err := json.Unmarshal(v.payload, &req); err != nil || req.CSR == "" || strings.ContainsAny(req.CSR, "+/=") {
		s.problem(w, 400, ProblemBadCSR, "csr must be base64url")
		return
	}
	o.finalized = true
	o.procLeft = s.processingPolls
	s.writeJSON(w, 200, s.orderJSON(o))
}

func (s *stub) cert(w http.ResponseWriter, r *http.Request, v verified, id string) {
	if r.Header.Get("Accept") != contentTypeChain {
		s.problem(w, 406, ProblemMalformed, "accept")
		return
	}
	w.Header().Set("Content-Type", contentTypeChain)
	if strings.HasSuffix(id, "/alt") {
		w.Header().Add("Link", `</cert/`+strings.TrimSuffix(id, "/alt")+`>;rel="alternate"`)
		w.Write(s.altPEM)
		return
	}
	// Two alternates in one header, one in another, one duplicate and
	// an unrelated relation.
	w.Header().Add("Link", `<`+s.url("/dir")+`>;rel="index", </cert/`+id+`/alt>; rel="alternate"`)
	w.Header().Add("Link", `<`+s.url("/cert/"+id+"/alt")+`>;rel=alternate`)
	w.Write(s.chainPEM)
}

func (s *stub) revoke(w http.ResponseWriter, v verified) {
	var req struct {
		Certificate string `json:"certificate"`
		Reason      *int   `json:"reason"`
	}
	if err := json.Unmarshal(v.payload, &req); err != nil {
		s.problem(w, 400, ProblemMalformed, err.Error())
		return
	}
	if s.revoked[req.Certificate] {
		s.problem(w, 400, ProblemAlreadyRevoked, "already revoked")
		return
	}
	s.revoked[req.Certificate] = true
	w.WriteHeader(200)
}

// makeChains returns a leaf + intermediate PEM chain and an alternate one
// with a different intermediate.
func makeChains() (chain, alt []byte) {
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(cn string) ([]byte, []byte) {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ca := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			SubjectKeyId: []byte{1, 2, 3, 4},
		}
		caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
		caCert, _ := x509.ParseCertificate(caDER)
		leaf := &x509.Certificate{
			SerialNumber: big.NewInt(0x87654321), Subject: pkix.Name{CommonName: "example.org"},
			DNSNames:  []string{"example.org"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		}
		leafDER, _ := x509.CreateCertificate(rand.Reader, leaf, caCert, leafKey.Public(), caKey)
		return leafDER, caDER
	}
	l1, c1 := mk("Stub Root X")
	l2, c2 := mk("Stub Root Y")
	enc := func(ders ...[]byte) []byte {
		var b bytes.Buffer
		for _, d := range ders {
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: d})
		}
		return b.Bytes()
	}
	return enc(l1, c1), enc(l2, c2)
}
