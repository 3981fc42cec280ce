package acmetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// caOrder is an order (§7.1.3).
type caOrder struct {
	id       string
	acct     string
	ids      []acme.Identifier
	authzs   []string // ids
	expires  time.Time
	profile  string
	replaces string
	certID   string // once issued
	problem  *acme.Problem
	procLeft int // reads that still find it processing (ProcessingPolls)
}

// caAuthz is an authorization (§7.1.4).
type caAuthz struct {
	id       string
	acct     string
	ident    acme.Identifier
	wildcard bool
	chals    []string
	status   acme.Status
	expires  time.Time
}

// caChal is a challenge (§7.1.5, §8).
type caChal struct {
	id, authz string
	typ       acme.ChallengeType
	token     string
	status    acme.Status
	validated time.Time
	err       *acme.Problem
	open      bool // failed but left open (FailedChallengeStatus): may be answered again
}

func problemJSON(p *acme.Problem) map[string]any {
	st := p.Status
	if st == 0 {
		st = http.StatusForbidden
	}
	return map[string]any{"type": p.Type, "detail": p.Detail, "status": st}
}

// checkIdentifier refuses what a CA would not issue for (§7.4, RFC 8738).
func checkIdentifier(id acme.Identifier) error {
	switch id.Type {
	case acme.IdentifierDNS:
		name := strings.TrimPrefix(id.Value, "*.")
		if name == "" || strings.Contains(name, "*") || name != strings.ToLower(name) || strings.HasSuffix(name, ".") {
			return fmt.Errorf("%q is not a lower-case DNS name", id.Value)
		}
		if _, err := netip.ParseAddr(name); err == nil {
			return fmt.Errorf("%q is an IP address in a dns identifier", id.Value)
		}
	case acme.IdentifierIP:
		a, err := netip.ParseAddr(id.Value)
		if err != nil || a.String() != id.Value {
			return fmt.Errorf("%q is not an IP address in canonical form", id.Value)
		}
	default:
		return fmt.Errorf("identifier type %q not supported", id.Type)
	}
	return nil
}

// newOrder creates an order with one new authorization per identifier
// (§7.4).
func (ca *CA) newOrder(w http.ResponseWriter, req request) {
	var body struct {
		Identifiers []acme.Identifier `json:"identifiers"`
		Profile     string            `json:"profile"`
		Replaces    string            `json:"replaces"`
	}
	if err := json.Unmarshal(req.payload, &body); err != nil || len(body.Identifiers) == 0 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "an order needs identifiers")
		return
	}
	for _, id := range body.Identifiers {
		if err := checkIdentifier(id); err != nil {
			writeProblem(w, http.StatusBadRequest, acme.ProblemRejectedIdentifier, err.Error())
			return
		}
	}
	if _, ok := ca.opts.Profiles[body.Profile]; body.Profile != "" && !ok {
		writeProblem(w, http.StatusBadRequest, acme.ProblemInvalidProfile, "no profile "+body.Profile)
		return
	}
	if body.Replaces != "" {
		if c := ca.certByARIID(body.Replaces); c == nil || c.acct != req.acct.url {
			writeProblem(w, http.StatusConflict, acme.ProblemMalformed, "replaces names no certificate of this account")
			return
		}
	}
	now := ca.opts.Now()
	o := &caOrder{id: ca.nextID(), acct: req.acct.url, ids: body.Identifiers, expires: now.Add(7 * 24 * time.Hour),
		profile: body.Profile, replaces: body.Replaces}
	for _, id := range body.Identifiers {
		if az := ca.reusable(req.acct.url, id); az != nil {
			o.authzs = append(o.authzs, az.id)
			continue
		}
		az := &caAuthz{id: ca.nextID(), acct: req.acct.url, ident: id, status: acme.StatusPending, expires: o.expires}
		if base, ok := strings.CutPrefix(id.Value, "*."); ok {
			az.ident.Value, az.wildcard = base, true
		}
		refused, isRefused := ca.control.refusals[az.ident.Value]
		for _, typ := range ca.offered(id) {
			ch := &caChal{id: ca.nextID(), authz: az.id, typ: typ, token: randomToken(), status: acme.StatusPending}
			if isRefused {
				ch.status, ch.err = acme.StatusInvalid, &refused
			}
			ca.chals[ch.id] = ch
			az.chals = append(az.chals, ch.id)
		}
		if isRefused {
			az.status = acme.StatusInvalid
		}
		ca.authzs[az.id] = az
		o.authzs = append(o.authzs, az.id)
	}
	ca.orders[o.id] = o
	req.acct.orders = append(req.acct.orders, o.id)
	w.Header().Set("Location", ca.url("/order/"+o.id))
	writeJSON(w, http.StatusCreated, ca.orderJSON(o))
}

// orderStatus derives the order's status from its authorizations
// (§7.1.6).
func (ca *CA) orderStatus(o *caOrder) acme.Status {
	if o.certID != "" {
		if o.procLeft > 0 {
			return acme.StatusProcessing
		}
		return acme.StatusValid
	}
	if o.problem != nil {
		return acme.StatusInvalid
	}
	all := true
	for _, id := range o.authzs {
		switch ca.authzs[id].status {
		case acme.StatusValid:
		case acme.StatusPending:
			all = false
		default: // invalid, deactivated, expired, revoked
			return acme.StatusInvalid
		}
	}
	if !all {
		if !ca.opts.Now().Before(o.expires) {
			return acme.StatusInvalid
		}
		return acme.StatusPending
	}
	return acme.StatusReady
}

func (ca *CA) orderJSON(o *caOrder) map[string]any {
	st := ca.orderStatus(o)
	m := map[string]any{
		"status": st, "expires": o.expires.UTC().Format(time.RFC3339), "identifiers": o.ids,
		"finalize": ca.url("/finalize/" + o.id),
	}
	az := []string{}
	for _, id := range o.authzs {
		az = append(az, ca.url("/authz/"+id))
	}
	m["authorizations"] = az
	if st == acme.StatusValid {
		m["certificate"] = ca.url("/cert/" + o.certID)
	}
	if st == acme.StatusInvalid {
		p := o.problem
		if p == nil { // as Boulder does: the failed validation's problem
			p = ca.authzProblem(o)
		}
		m["error"] = problemJSON(p)
	}
	if o.profile != "" {
		m["profile"] = o.profile
	}
	if o.replaces != "" {
		m["replaces"] = o.replaces
	}
	return m
}

// authzProblem is the error of the first failed challenge of o, or a
// generic one.
func (ca *CA) authzProblem(o *caOrder) *acme.Problem {
	for _, id := range o.authzs {
		for _, cid := range ca.authzs[id].chals {
			if ch := ca.chals[cid]; ch.err != nil {
				return ch.err
			}
		}
	}
	return &acme.Problem{Type: acme.ProblemUnauthorized, Detail: "an authorization of the order is not valid"}
}

func (ca *CA) order(w http.ResponseWriter, req request, id string) {
	o := ca.orders[id]
	if o == nil || o.acct != req.acct.url {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no such order")
		return
	}
	if len(req.payload) != 0 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "an order is read with POST-as-GET (§6.3)")
		return
	}
	doc := ca.orderJSON(o)
	if ca.orderStatus(o) == acme.StatusProcessing {
		ca.retryAfter(w)
		o.procLeft--
	}
	writeJSON(w, http.StatusOK, doc)
}

func (ca *CA) chalJSON(ch *caChal) map[string]any {
	m := map[string]any{"type": ch.typ, "url": ca.url("/chal/" + ch.id), "status": ch.status, "token": ch.token}
	if ch.typ == acme.ChallengeDNSPersist01 {
		m["issuer-domain-names"] = ca.opts.IssuerDomainNames
	}
	if !ch.validated.IsZero() {
		m["validated"] = ch.validated.UTC().Format(time.RFC3339)
	}
	if ch.err != nil {
		m["error"] = problemJSON(ch.err)
	}
	return m
}

func (ca *CA) authzJSON(az *caAuthz) map[string]any {
	chals := []map[string]any{}
	for _, id := range az.chals {
		chals = append(chals, ca.chalJSON(ca.chals[id]))
	}
	m := map[string]any{"identifier": az.ident, "status": az.status, "expires": az.expires.UTC().Format(time.RFC3339), "challenges": chals}
	if az.wildcard {
		m["wildcard"] = true
	}
	return m
}

// authz reads or deactivates an authorization (§7.5, §7.5.2).
func (ca *CA) authz(w http.ResponseWriter, req request, id string) {
	az := ca.authzs[id]
	if az == nil || az.acct != req.acct.url {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no such authorization")
		return
	}
	if len(req.payload) != 0 {
		var body struct {
			Status acme.Status `json:"status"`
		}
		if err := json.Unmarshal(req.payload, &body); err != nil || body.Status != acme.StatusDeactivated {
			writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, `an authorization may only be updated to {"status":"deactivated"}`)
			return
		}
		if az.status != acme.StatusPending && az.status != acme.StatusValid && az.status != acme.StatusDeactivated {
			writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "authorization is "+string(az.status))
			return
		}
		az.status = acme.StatusDeactivated
	}
	if az.status == acme.StatusPending {
		ca.retryAfter(w)
	}
	writeJSON(w, http.StatusOK, ca.authzJSON(az))
}

// finalize checks the CSR and issues the certificate at once (§7.4).
func (ca *CA) finalize(w http.ResponseWriter, req request, id string) {
	o := ca.orders[id]
	if o == nil || o.acct != req.acct.url {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no such order")
		return
	}
	if st := ca.orderStatus(o); st != acme.StatusReady {
		writeProblem(w, http.StatusForbidden, acme.ProblemOrderNotReady, "order is "+string(st))
		return
	}
	csr, err := parseCSR(req.payload)
	if err == nil {
		err = csr.CheckSignature()
	}
	var dns []string
	if err == nil {
		dns, _, err = csrNames(csr, o.ids)
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemBadCSR, err.Error())
		return
	}
	if thumbprint(req.acct.key) == thumbprintOf(csr.PublicKey) {
		writeProblem(w, http.StatusBadRequest, acme.ProblemBadCSR, "the certificate key is the account key")
		return
	}
	life := ca.opts.CertificateLifetime
	if p, ok := ca.opts.Profiles[o.profile]; ok {
		life = p
	}
	leaf, broken, err := ca.issuer.issue(csr, dns, csr.IPAddresses, ca.opts.Now(), life, ca.opts.Misissue)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, acme.ProblemServerInternal, err.Error())
		return
	}
	c := &caCert{id: ca.nextID(), acct: o.acct, leaf: leaf, broken: broken}
	ca.certs[c.id] = c
	o.certID, o.procLeft = c.id, ca.opts.ProcessingPolls
	w.Header().Set("Location", ca.url("/order/"+o.id))
	if o.procLeft > 0 {
		ca.retryAfter(w)
	}
	writeJSON(w, http.StatusOK, ca.orderJSON(o))
}

// cert serves a chain: /cert/ID the default one, /cert/ID/N alternate N,
// each linking the others with rel="alternate" (§7.4.2).
func (ca *CA) cert(w http.ResponseWriter, req request, id string) {
	id, nstr, _ := strings.Cut(id, "/")
	n, err := strconv.Atoi(nstr)
	if nstr == "" {
		n, err = 0, nil
	}
	c := ca.certs[id]
	if c == nil || err != nil || n < 0 || n >= len(ca.issuer.inters) {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no such certificate")
		return
	}
	if len(req.payload) != 0 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "a certificate is read with POST-as-GET (§6.3)")
		return
	}
	for i := range ca.issuer.inters {
		if i == n {
			continue
		}
		u := ca.url("/cert/" + id)
		if i > 0 {
			u += "/" + strconv.Itoa(i)
		}
		w.Header().Add("Link", "<"+u+`>;rel="alternate"`)
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ca.issuer.chainPEM(c, n))
}

// revoke revokes a certificate (§7.6): signed by the account that ordered
// it (kid) or by the certificate's own key (jwk).
func (ca *CA) revoke(w http.ResponseWriter, req request) {
	var body struct {
		Certificate string `json:"certificate"`
		Reason      *int   `json:"reason"`
	}
	if err := json.Unmarshal(req.payload, &body); err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, err.Error())
		return
	}
	der, err := base64.RawURLEncoding.DecodeString(body.Certificate)
	c := ca.findCert(der)
	if err != nil || c == nil {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "certificate not issued by this CA")
		return
	}
	switch {
	case req.acct != nil && req.acct.url == c.acct:
	case req.jwk != nil && thumbprint(req.jwk) == thumbprintOf(c.leaf.PublicKey):
	default:
		writeProblem(w, http.StatusForbidden, acme.ProblemUnauthorized, "neither the ordering account nor the certificate's key signed the request")
		return
	}
	reason := 0
	if body.Reason != nil {
		reason = *body.Reason
	}
	if reason < 0 || reason > 10 || reason == 7 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemBadRevocationReason, "reason "+strconv.Itoa(reason))
		return
	}
	if c.revoked {
		writeProblem(w, http.StatusBadRequest, acme.ProblemAlreadyRevoked, "certificate already revoked")
		return
	}
	c.revoked, c.reason = true, reason
	w.WriteHeader(http.StatusOK)
}

// certByARIID finds an issued certificate by its RFC 9773 §4.1
// identifier.
func (ca *CA) certByARIID(id string) *caCert {
	akiStr, serialStr, ok := strings.Cut(id, ".")
	aki, err1 := base64.RawURLEncoding.DecodeString(akiStr)
	serial, err2 := base64.RawURLEncoding.DecodeString(serialStr)
	if !ok || err1 != nil || err2 != nil || len(serial) == 0 {
		return nil
	}
	return ca.findSerial(aki, new(big.Int).SetBytes(serial))
}

// renewalInfo answers RFC 9773 §4.2.
func (ca *CA) renewalInfo(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet {
		writeProblem(w, http.StatusMethodNotAllowed, acme.ProblemMalformed, "renewalInfo is read with GET")
		return
	}
	c := ca.certByARIID(id)
	if c == nil {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no certificate "+id)
		return
	}
	start, end := ca.renewalWindow(c)
	w.Header().Set("Retry-After", "21600")
	writeJSON(w, http.StatusOK, map[string]any{
		"suggestedWindow": map[string]string{"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339)},
	})
}
