package acmetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certkeeper/certkeeper/acme"
)

// caAccount is an account (§7.1.2).
type caAccount struct {
	url     string
	key     *jose.JSONWebKey
	status  acme.Status
	contact []string
	eabKID  string
	orders  []string // order ids
}

func (ca *CA) accountJSON(a *caAccount) map[string]any {
	m := map[string]any{"status": a.status, "contact": a.contact, "orders": a.url + "/orders"}
	if a.contact == nil {
		m["contact"] = []string{}
	}
	return m
}

func (ca *CA) accountByKey(k *jose.JSONWebKey) *caAccount {
	tp := thumbprint(k)
	for _, a := range ca.accounts {
		if thumbprint(a.key) == tp {
			return a
		}
	}
	return nil
}

// newAccount creates or finds an account (§7.3, §7.3.1, §7.3.4).
func (ca *CA) newAccount(w http.ResponseWriter, req request) {
	if req.jwk == nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "newAccount must be signed with jwk (§6.2)")
		return
	}
	var body struct {
		Contact            []string        `json:"contact"`
		ToS                bool            `json:"termsOfServiceAgreed"`
		OnlyReturnExisting bool            `json:"onlyReturnExisting"`
		EAB                json.RawMessage `json:"externalAccountBinding"`
	}
	if err := json.Unmarshal(req.payload, &body); err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, err.Error())
		return
	}
	if a := ca.accountByKey(req.jwk); a != nil {
		w.Header().Set("Location", a.url)
		writeJSON(w, http.StatusOK, ca.accountJSON(a))
		return
	}
	if body.OnlyReturnExisting {
		writeProblem(w, http.StatusBadRequest, acme.ProblemAccountDoesNotExist, "no account exists with the provided key")
		return
	}
	if !body.ToS {
		writeProblem(w, http.StatusForbidden, acme.ProblemUserActionRequired, "the terms of service must be agreed to (termsOfServiceAgreed)")
		return
	}
	for _, c := range body.Contact {
		u, err := url.Parse(c)
		if err != nil || u.Scheme != "mailto" || !strings.Contains(u.Opaque, "@") {
			writeProblem(w, http.StatusBadRequest, acme.ProblemInvalidContact, "contact "+c+" is not a mailto: address")
			return
		}
	}
	kid := ""
	if len(ca.opts.EAB) > 0 {
		var ok bool
		if kid, ok = ca.checkEAB(w, body.EAB, req.jwk); !ok {
			return
		}
	}
	a := &caAccount{url: ca.url("/acct/" + ca.nextID()), key: req.jwk, status: acme.StatusValid, contact: body.Contact, eabKID: kid}
	ca.accounts[a.url] = a
	w.Header().Set("Location", a.url)
	writeJSON(w, http.StatusCreated, ca.accountJSON(a))
}

// checkEAB verifies an external account binding (§7.3.4): an HS256 JWS
// by a known key ID over the account's JWK, with the newAccount URL.
func (ca *CA) checkEAB(w http.ResponseWriter, raw json.RawMessage, jwk *jose.JSONWebKey) (string, bool) {
	if len(raw) == 0 {
		writeProblem(w, http.StatusUnauthorized, acme.ProblemExternalAccountRequired, "this CA requires an external account binding")
		return "", false
	}
	eab, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512})
	if err != nil || len(eab.Signatures) != 1 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "externalAccountBinding is not a JWS")
		return "", false
	}
	h := eab.Signatures[0].Protected
	key, ok := ca.opts.EAB[h.KeyID]
	if !ok {
		writeProblem(w, http.StatusUnauthorized, acme.ProblemUnauthorized, "unknown external account key ID "+h.KeyID)
		return "", false
	}
	if h.Nonce != "" || h.ExtraHeaders["url"] != ca.url("/new-acct") {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "externalAccountBinding header: no nonce, url of newAccount")
		return "", false
	}
	payload, err := eab.Verify(key)
	if err != nil {
		writeProblem(w, http.StatusUnauthorized, acme.ProblemUnauthorized, "externalAccountBinding signature does not verify")
		return "", false
	}
	var bound jose.JSONWebKey
	if err := json.Unmarshal(payload, &bound); err != nil || thumbprint(&bound) != thumbprint(jwk) {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "externalAccountBinding does not bind the account key")
		return "", false
	}
	return h.KeyID, true
}

// account reads, updates or deactivates an account, or lists its orders
// (§7.3.2, §7.3.6, §7.1.2.1).
func (ca *CA) account(w http.ResponseWriter, r *http.Request, req request) {
	a := req.acct
	path, orders := strings.CutSuffix(r.URL.Path, "/orders")
	if a.url != ca.url(path) {
		writeProblem(w, http.StatusForbidden, acme.ProblemUnauthorized, "not the signer's account")
		return
	}
	if orders {
		var list []string
		for _, id := range a.orders {
			if st := ca.orderStatus(ca.orders[id]); st == acme.StatusPending || st == acme.StatusReady || st == acme.StatusProcessing {
				list = append(list, ca.url("/order/"+id))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"orders": append([]string{}, list...)})
		return
	}
	if len(req.payload) == 0 {
		writeJSON(w, http.StatusOK, ca.accountJSON(a))
		return
	}
	var body struct {
		Contact *[]string   `json:"contact"`
		Status  acme.Status `json:"status"`
	}
	if err := json.Unmarshal(req.payload, &body); err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, err.Error())
		return
	}
	if body.Contact != nil {
		a.contact = *body.Contact
	}
	switch body.Status {
	case "":
	case acme.StatusDeactivated:
		a.status = acme.StatusDeactivated
	default:
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "status may only become deactivated")
		return
	}
	writeJSON(w, http.StatusOK, ca.accountJSON(a))
}

// keyChange rolls an account over to a new key (§7.3.5).
func (ca *CA) keyChange(w http.ResponseWriter, req request) {
	inner, err := jose.ParseSigned(string(req.payload), jwsAlgs)
	if err != nil || len(inner.Signatures) != 1 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "inner JWS")
		return
	}
	h := inner.Signatures[0].Protected
	if h.JSONWebKey == nil || h.KeyID != "" || h.Nonce != "" || h.ExtraHeaders["url"] != ca.url("/key-change") {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "inner JWS header: jwk, no kid, no nonce, url of keyChange")
		return
	}
	payload, err := inner.Verify(h.JSONWebKey)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "inner signature")
		return
	}
	var body struct {
		Account string          `json:"account"`
		OldKey  jose.JSONWebKey `json:"oldKey"`
	}
	if err := json.Unmarshal(payload, &body); err != nil || body.Account != req.acct.url || thumbprint(&body.OldKey) != thumbprint(req.acct.key) {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "inner payload: account and oldKey must be the signer's")
		return
	}
	if other := ca.accountByKey(h.JSONWebKey); other != nil {
		w.Header().Set("Location", other.url)
		writeProblem(w, http.StatusConflict, acme.ProblemMalformed, "the new key is another account's")
		return
	}
	req.acct.key = h.JSONWebKey
	writeJSON(w, http.StatusOK, ca.accountJSON(req.acct))
}
