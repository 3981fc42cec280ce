package acmetest

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certkeeper/certkeeper/acme"
)

// maxRequestBody bounds what the fake CA reads of one request.
const maxRequestBody = 1 << 20

// route names the endpoint of a path and the resource id in it.
func route(path string) (Endpoint, string) {
	head, id, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch head {
	case "dir":
		return EndpointDirectory, id
	case "nonce":
		return EndpointNewNonce, id
	case "new-acct":
		return EndpointNewAccount, id
	case "acct":
		return EndpointAccount, id
	case "key-change":
		return EndpointKeyChange, id
	case "new-order":
		return EndpointNewOrder, id
	case "order":
		return EndpointOrder, id
	case "authz":
		return EndpointAuthz, id
	case "chal":
		return EndpointChallenge, id
	case "finalize":
		return EndpointFinalize, id
	case "cert":
		return EndpointCert, id
	case "revoke":
		return EndpointRevokeCert, id
	case "renewal-info":
		return EndpointRenewalInfo, id
	}
	return "", ""
}

func (ca *CA) url(path string) string { return ca.base + path }

// handle consumes a fault for the request's endpoint, if any, then
// serves it.
func (ca *CA) handle(w http.ResponseWriter, r *http.Request) {
	endpoint, id := route(r.URL.Path)
	ca.mu.Lock()
	ca.counts[endpoint]++
	var f *CAFault
	if q := ca.faults[endpoint]; len(q) > 0 {
		f = &q[0]
		ca.faults[endpoint] = q[1:]
	}
	ca.mu.Unlock()

	if f == nil {
		ca.serve(w, r, endpoint, id)
		return
	}
	if f.Answer != nil || f.Rewrite != nil {
		ca.answer(w, r, endpoint, id, f)
		return
	}
	switch f.Fault {
	case Status500, Status503RetryAfter, Status429RetryAfter, BadNonce:
		status, typ := http.StatusInternalServerError, acme.ProblemServerInternal
		switch f.Fault {
		case Status503RetryAfter:
			status = http.StatusServiceUnavailable
		case Status429RetryAfter:
			status, typ = http.StatusTooManyRequests, acme.ProblemRateLimited
		case BadNonce:
			status, typ = http.StatusBadRequest, acme.ProblemBadNonce
		}
		if f.Fault == Status503RetryAfter || f.Fault == Status429RetryAfter {
			d := f.RetryAfter
			if d <= 0 {
				d = time.Second
			}
			w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		}
		ca.mu.Lock()
		w.Header().Set("Replay-Nonce", ca.newNonce())
		ca.mu.Unlock()
		writeProblem(w, status, typ, "acmetest: injected "+f.Fault.String()+" for "+r.Method+" "+r.URL.Path)
	case ConnectionReset:
		resetConn(w)
	case DropResponse:
		ca.serve(httptest.NewRecorder(), r, endpoint, id)
		resetConn(w)
	case Slow:
		if !sleepCtx(r.Context(), f.Delay) {
			// The client gave up: end the exchange without an
			// answer, never with an empty 200 the server would write
			// for a handler that returns without one.
			panic(http.ErrAbortHandler)
		}
		ca.serve(w, r, endpoint, id)
	default:
		ca.serve(w, r, endpoint, id)
	}
}

// newNonce makes a nonce (§7.2). Called with ca.mu held.
func (ca *CA) newNonce() string {
	ca.seq++
	n := base64.RawURLEncoding.EncodeToString([]byte("acmetest-nonce-" + strconv.Itoa(ca.seq)))
	ca.nonces[n] = true
	return n
}

// nextID returns a fresh resource id. Called with ca.mu held.
func (ca *CA) nextID() string {
	ca.seq++
	return strconv.Itoa(ca.seq)
}

func writeProblem(w http.ResponseWriter, status int, typ acme.ProblemType, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "detail": detail, "status": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	tamperDoc(w, v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// request is a POST whose JWS checked out (§6.2).
type request struct {
	payload []byte
	acct    *caAccount       // the signer, for kid-signed requests
	jwk     *jose.JSONWebKey // the key, for jwk-signed requests
}

// jwsAlgs are the algorithms the CA accepts (§6.2: at least ES256, and
// what Let's Encrypt accepts besides).
var jwsAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.EdDSA}

// verify checks the JWS of a POST: content type, flattened form, a nonce
// this CA gave and has not seen back, the "url" header, exactly one of
// jwk and kid, a valid account for kid and the signature (§6.2–§6.5). On
// failure it writes the problem and returns false. Called with ca.mu held.
func (ca *CA) verify(w http.ResponseWriter, r *http.Request) (request, bool) {
	var req request
	if r.Method != http.MethodPost {
		writeProblem(w, http.StatusMethodNotAllowed, acme.ProblemMalformed, "POST only")
		return req, false
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/jose+json" {
		writeProblem(w, http.StatusUnsupportedMediaType, acme.ProblemMalformed, "content type "+ct+", want application/jose+json")
		return req, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, err.Error())
		return req, false
	}
	if bytes.Contains(body, []byte(`"signatures"`)) {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "JWS not in flattened form (§6.2)")
		return req, false
	}
	jws, err := jose.ParseSigned(string(body), jwsAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "bad JWS")
		return req, false
	}
	h := jws.Signatures[0].Protected
	if !ca.nonces[h.Nonce] {
		w.Header().Set("Replay-Nonce", ca.newNonce())
		writeProblem(w, http.StatusBadRequest, acme.ProblemBadNonce, "unknown or used nonce "+h.Nonce)
		return req, false
	}
	delete(ca.nonces, h.Nonce)
	w.Header().Set("Replay-Nonce", ca.newNonce())
	if u, _ := h.ExtraHeaders["url"].(string); u != ca.url(r.URL.Path) {
		writeProblem(w, http.StatusUnauthorized, acme.ProblemUnauthorized, "url header "+u+" is not the request URL")
		return req, false
	}
	var key any
	switch {
	case h.JSONWebKey != nil && h.KeyID != "":
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "both jwk and kid")
		return req, false
	case h.JSONWebKey != nil:
		if !h.JSONWebKey.Valid() || !h.JSONWebKey.IsPublic() {
			writeProblem(w, http.StatusBadRequest, acme.ProblemBadPublicKey, "jwk is not a public key")
			return req, false
		}
		req.jwk, key = h.JSONWebKey, h.JSONWebKey
	default:
		a := ca.accounts[h.KeyID]
		if a == nil {
			writeProblem(w, http.StatusBadRequest, acme.ProblemAccountDoesNotExist, "no account "+h.KeyID)
			return req, false
		}
		if a.status != acme.StatusValid {
			writeProblem(w, http.StatusUnauthorized, acme.ProblemUnauthorized, "account is "+string(a.status))
			return req, false
		}
		req.acct, key = a, a.key
	}
	if req.payload, err = jws.Verify(key); err != nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "bad signature")
		return req, false
	}
	return req, true
}

func thumbprint(k *jose.JSONWebKey) string {
	tp, _ := k.Thumbprint(crypto.SHA256)
	return base64.RawURLEncoding.EncodeToString(tp)
}

// serve answers a request that no fault took.
func (ca *CA) serve(w http.ResponseWriter, r *http.Request, endpoint Endpoint, id string) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	w = ca.tampered(w, endpoint)
	switch endpoint {
	case EndpointDirectory:
		ca.directory(w)
		return
	case EndpointNewNonce:
		w.Header().Set("Replay-Nonce", ca.newNonce())
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		return
	case EndpointRenewalInfo:
		ca.renewalInfo(w, r, id)
		return
	case "":
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no such resource")
		return
	}
	req, ok := ca.verify(w, r)
	if !ok {
		return
	}
	if endpoint != EndpointNewAccount && endpoint != EndpointRevokeCert && req.acct == nil {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "request must be signed with kid (§6.2)")
		return
	}
	switch endpoint {
	case EndpointNewAccount:
		ca.newAccount(w, req)
	case EndpointAccount:
		ca.account(w, r, req)
	case EndpointKeyChange:
		ca.keyChange(w, req)
	case EndpointNewOrder:
		ca.newOrder(w, req)
	case EndpointOrder:
		ca.order(w, req, id)
	case EndpointAuthz:
		ca.authz(w, req, id)
	case EndpointChallenge:
		ca.challenge(w, req, id)
	case EndpointFinalize:
		ca.finalize(w, req, id)
	case EndpointCert:
		ca.cert(w, req, id)
	case EndpointRevokeCert:
		ca.revoke(w, req)
	}
}

func (ca *CA) directory(w http.ResponseWriter) {
	meta := map[string]any{
		"termsOfService":          "https://ca.example.test/terms",
		"website":                 "https://ca.example.test/",
		"caaIdentities":           []string{"ca.example.test"},
		"externalAccountRequired": len(ca.opts.EAB) > 0,
	}
	if len(ca.opts.Profiles) > 0 {
		p := map[string]string{}
		for name, life := range ca.opts.Profiles {
			p[name] = "certificates valid for " + life.String()
		}
		meta["profiles"] = p
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"newNonce":    ca.url("/nonce"),
		"newAccount":  ca.url("/new-acct"),
		"newOrder":    ca.url("/new-order"),
		"revokeCert":  ca.url("/revoke"),
		"keyChange":   ca.url("/key-change"),
		"renewalInfo": ca.url("/renewal-info/"),
		"meta":        meta,
	})
}

// sleepCtx waits d (0 means 1 s) and reports whether it did before ctx
// ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		d = time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
