package acmetest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// offered returns the challenge types offered for id (CAOptions.Challenges).
func (ca *CA) offered(id acme.Identifier) []acme.ChallengeType {
	dnsBased := func(t acme.ChallengeType) bool {
		return t == acme.ChallengeDNS01 || t == acme.ChallengeDNSAccount01 || t == acme.ChallengeDNSPersist01
	}
	var types []acme.ChallengeType
	for _, t := range ca.opts.Challenges {
		switch {
		case id.Type == acme.IdentifierIP:
			if t == acme.ChallengeHTTP01 || t == acme.ChallengeTLSALPN01 {
				types = append(types, t)
			}
		case strings.HasPrefix(id.Value, "*."):
			if dnsBased(t) {
				types = append(types, t)
			}
		default:
			types = append(types, t)
		}
	}
	return types
}

// reusable returns an authorization of the account acct for id that a new
// order may reuse (CAOptions.ReuseAuthorizations), or nil. Called with
// ca.mu held.
func (ca *CA) reusable(acct string, id acme.Identifier) *caAuthz {
	if !ca.opts.ReuseAuthorizations && !ca.opts.ReusePendingAuthorizations {
		return nil
	}
	base, wildcard := strings.CutPrefix(id.Value, "*.")
	now := ca.opts.Now()
	var best *caAuthz
	for _, az := range ca.authzs {
		if az.acct != acct || az.ident.Type != id.Type || az.ident.Value != base || az.wildcard != wildcard || !now.Before(az.expires) {
			continue
		}
		ok := (az.status == acme.StatusValid && ca.opts.ReuseAuthorizations) ||
			(az.status == acme.StatusPending && ca.opts.ReusePendingAuthorizations)
		if ok && (best == nil || az.expires.After(best.expires)) {
			best = az
		}
	}
	return best
}

// retryAfter sets CAOptions.RetryAfter on an answer that leaves the client
// to poll.
func (ca *CA) retryAfter(w http.ResponseWriter) {
	if d := ca.opts.RetryAfter; d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// tamperWriter hands the JSON documents written through it to
// CAOptions.Tamper (see writeJSON).
type tamperWriter struct {
	http.ResponseWriter
	endpoint Endpoint
	tamper   func(Endpoint, map[string]any)
}

// tampered wraps w for endpoint when CAOptions.Tamper is set.
func (ca *CA) tampered(w http.ResponseWriter, endpoint Endpoint) http.ResponseWriter {
	if ca.opts.Tamper == nil {
		return w
	}
	return &tamperWriter{ResponseWriter: w, endpoint: endpoint, tamper: ca.opts.Tamper}
}

// tamperDoc gives doc to the tamper hook of w, if any.
func tamperDoc(w http.ResponseWriter, v any) {
	tw, ok := w.(*tamperWriter)
	if !ok {
		return
	}
	if doc, ok := v.(map[string]any); ok {
		tw.tamper(tw.endpoint, doc)
	}
}
