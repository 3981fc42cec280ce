package acmetest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certkeeper/certkeeper/acme"
)

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func thumbprintOf(pub crypto.PublicKey) string {
	return thumbprint(&jose.JSONWebKey{Key: pub})
}

func parseCSR(payload []byte) (*x509.CertificateRequest, error) {
	var body struct {
		CSR string `json:"csr"`
	}
	if err := json.Unmarshal(payload, &body); err != nil || body.CSR == "" {
		return nil, errors.New("finalize needs a csr")
	}
	der, err := base64.RawURLEncoding.DecodeString(body.CSR)
	if err != nil {
		return nil, errors.New("csr is not base64url without padding (§7.4)")
	}
	return x509.ParseCertificateRequest(der)
}

// challenge reads a challenge, or, for a POST of {}, validates it
// (§7.5.1): at once unless the controller holds it, in which case the
// challenge stays processing until the test decides. Called with ca.mu
// held; it releases it while checking.
func (ca *CA) challenge(w http.ResponseWriter, req request, id string) {
	ch := ca.chals[id]
	var az *caAuthz
	if ch != nil {
		az = ca.authzs[ch.authz]
	}
	if az == nil || az.acct != req.acct.url {
		writeProblem(w, http.StatusNotFound, acme.ProblemMalformed, "no such challenge")
		return
	}
	w.Header().Add("Link", "<"+ca.url("/authz/"+az.id)+`>;rel="up"`)
	if len(req.payload) == 0 {
		writeJSON(w, http.StatusOK, ca.chalJSON(ch))
		return
	}
	if !bytes.Equal(bytes.TrimSpace(req.payload), []byte("{}")) {
		writeProblem(w, http.StatusBadRequest, acme.ProblemMalformed, "a challenge is accepted with the payload {}")
		return
	}
	if (ch.status != acme.StatusPending && !ch.open) || az.status != acme.StatusPending {
		// Accepting again is harmless (§7.5.1): answer the current state.
		writeJSON(w, http.StatusOK, ca.chalJSON(ch))
		return
	}
	ch.status, ch.open = acme.StatusProcessing, false
	keyAuth := ch.token + "." + thumbprint(req.acct.key)
	if v := ca.hold(az, ch.typ, ch.token); v != nil {
		ca.wg.Add(1)
		go ca.awaitHeld(v, ch, az, keyAuth)
		ca.retryAfter(w)
		writeJSON(w, http.StatusOK, ca.chalJSON(ch))
		return
	}
	ca.mu.Unlock()
	p := ca.check(az.ident, ch.typ, ch.token, keyAuth)
	ca.mu.Lock()
	ca.settle(ch, az, p)
	if az.status == acme.StatusPending {
		ca.retryAfter(w)
	}
	writeJSON(w, http.StatusOK, ca.chalJSON(ch))
}

// awaitHeld waits for the test's decision on v, then settles.
func (ca *CA) awaitHeld(v *HeldValidation, ch *caChal, az *caAuthz, keyAuth string) {
	defer ca.wg.Done()
	var d heldDecision
	select {
	case d = <-v.decide:
	case <-ca.closed:
		return
	}
	p := d.problem
	if d.release {
		p = ca.check(az.ident, ch.typ, ch.token, keyAuth)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.unhold(v)
	ca.settle(ch, az, p)
}

// settle ends a validation: valid without p, else invalid with p
// (§7.1.6). Called with ca.mu held.
func (ca *CA) settle(ch *caChal, az *caAuthz, p *acme.Problem) {
	if ch.status != acme.StatusProcessing {
		return
	}
	if p != nil {
		ch.err = p
		if st := ca.opts.FailedChallengeStatus; st == acme.StatusPending || st == acme.StatusProcessing {
			ch.status, ch.open = st, true // left open, as some CAs do
			return
		}
		ch.status = acme.StatusInvalid
		if az.status == acme.StatusPending {
			az.status = acme.StatusInvalid
		}
		return
	}
	ch.status, ch.validated, ch.err = acme.StatusValid, ca.opts.Now(), nil
	if az.status == acme.StatusPending {
		az.status = acme.StatusValid
	}
}

// check decides a validation that is not held: a failure set by
// FailValidations, else a real check where CAOptions asks for one, else
// success.
func (ca *CA) check(id acme.Identifier, typ acme.ChallengeType, token, keyAuth string) *acme.Problem {
	ca.mu.Lock()
	f, failed := ca.control.failures[id.Value]
	if n := ca.control.failNext[id.Value]; !failed && n.count > 0 {
		n.count--
		ca.control.failNext[id.Value] = n
		f, failed = n.problem, true
	}
	ca.mu.Unlock()
	if failed {
		return &f
	}
	ctx, cancel := context.WithTimeout(context.Background(), ca.opts.ValidationTimeout)
	defer cancel()
	go func() {
		select {
		case <-ca.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	switch {
	case typ == acme.ChallengeHTTP01 && ca.opts.HTTP01Addr != "":
		return checkHTTP01(ctx, ca.opts.HTTP01Addr, id, token, keyAuth)
	case typ == acme.ChallengeTLSALPN01 && ca.opts.TLSALPN01Addr != "":
		return checkTLSALPN01(ctx, ca.opts.TLSALPN01Addr, id, keyAuth)
	case typ == acme.ChallengeDNS01 && ca.opts.DNSServer != "":
		return checkDNS01(ctx, ca.opts.DNSServer, id, keyAuth)
	}
	return nil
}

func fail(typ acme.ProblemType, format string, args ...any) *acme.Problem {
	return &acme.Problem{Type: typ, Detail: fmt.Sprintf(format, args...), Status: http.StatusForbidden}
}

// checkHTTP01 fetches the key authorization as §8.3 says, from addr,
// following no redirect.
func checkHTTP01(ctx context.Context, addr string, id acme.Identifier, token, keyAuth string) *acme.Problem {
	host := id.Value
	if id.Type == acme.IdentifierIP && strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/.well-known/acme-challenge/"+token, nil)
	if err != nil {
		return fail(acme.ProblemMalformed, "%v", err)
	}
	req.Host = host
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(acme.ProblemConnection, "fetching http://%s/.well-known/acme-challenge/%s: %v", host, token, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fail(acme.ProblemUnauthorized, "http-01 answer for %s: status %d", host, resp.StatusCode)
	}
	if got := strings.TrimRight(string(body), " \t\r\n"); got != keyAuth {
		return fail(acme.ProblemUnauthorized, "http-01 answer for %s is %q, want %q", host, got, keyAuth)
	}
	return nil
}

// idPeAcmeIdentifier is the acmeIdentifier extension (RFC 8737 §6.1).
var idPeAcmeIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// checkTLSALPN01 does the RFC 8737 §3 handshake with addr.
func checkTLSALPN01(ctx context.Context, addr string, id acme.Identifier, keyAuth string) *acme.Problem {
	sni := id.Value
	if id.Type == acme.IdentifierIP {
		ip := net.ParseIP(id.Value)
		sni = reverseName(ip)
	}
	d := tls.Dialer{Config: &tls.Config{ServerName: sni, NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(acme.ProblemTLS, "tls-alpn-01 handshake for %s: %v", id.Value, err)
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	if cs.NegotiatedProtocol != "acme-tls/1" || len(cs.PeerCertificates) == 0 {
		return fail(acme.ProblemUnauthorized, "tls-alpn-01 for %s: acme-tls/1 not negotiated", id.Value)
	}
	cert := cs.PeerCertificates[0]
	names := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) != 1 || names[0] != id.Value {
		return fail(acme.ProblemUnauthorized, "tls-alpn-01 certificate for %s names %v", id.Value, names)
	}
	want := sha256.Sum256([]byte(keyAuth))
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(idPeAcmeIdentifier) {
			continue
		}
		var got []byte
		if _, err := asn1.Unmarshal(ext.Value, &got); err != nil || !ext.Critical || subtle.ConstantTimeCompare(got, want[:]) != 1 {
			return fail(acme.ProblemUnauthorized, "tls-alpn-01 certificate for %s: wrong or non-critical acmeIdentifier", id.Value)
		}
		return nil
	}
	return fail(acme.ProblemUnauthorized, "tls-alpn-01 certificate for %s has no acmeIdentifier extension", id.Value)
}

// reverseName is the in-addr.arpa / ip6.arpa name of ip (RFC 8738 §6).
func reverseName(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", v4[3], v4[2], v4[1], v4[0])
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := len(ip) - 1; i >= 0; i-- {
		b.WriteByte(hex[ip[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[ip[i]>>4])
		b.WriteByte('.')
	}
	return b.String() + "ip6.arpa"
}

// checkDNS01 asks server for the TXT records of _acme-challenge.NAME
// (§8.4), following CNAMEs as its resolver does.
func checkDNS01(ctx context.Context, server string, id acme.Identifier, keyAuth string) *acme.Problem {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	name := "_acme-challenge." + strings.TrimPrefix(id.Value, "*.") + "."
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		return fail(acme.ProblemDNS, "TXT %s: %v", name, err)
	}
	sum := sha256.Sum256([]byte(keyAuth))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if slices.Contains(txts, want) {
		return nil
	}
	return fail(acme.ProblemUnauthorized, "TXT %s is %q, want %q", name, txts, want)
}
