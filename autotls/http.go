package autotls

import (
	"context"
	"net"
	"net/http"
	"strings"
)

// challengePrefix is where the CA fetches http-01 responses (RFC 8555
// §8.3).
const challengePrefix = "/.well-known/acme-challenge/"

// HTTPHandler returns the handler to serve on port 80: it answers the
// http-01 challenges of the certificates autotls obtains, and passes every
// other request to fallback. A nil fallback redirects to HTTPS (301 for
// GET and HEAD, 308 otherwise, keeping path and query, to HTTPSAddr's port
// when it is not 443), but only for hosts this Config serves: a name the
// Manager has a certificate for, one of Names, or a name the OnDemand
// policy allows. Other hosts get 404, so the handler is no open redirect.
// It panics if the Config is invalid, as TLSConfig does.
func (c *Config) HTTPHandler(fallback http.Handler) http.Handler {
	s, err := c.init()
	if err != nil {
		panic(err)
	}
	if fallback == nil {
		fallback = http.HandlerFunc(s.redirect)
	}
	var challenges http.Handler = s.http
	if sh := c.SharedChallenges; sh != nil {
		challenges = sh.HTTPHandler(s.http)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, challengePrefix) {
			challenges.ServeHTTP(w, r)
			return
		}
		fallback.ServeHTTP(w, r)
	})
}

func (s *state) redirect(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = normalizeSNI(host)
	if !s.serves(r.Context(), host) {
		http.Error(w, "unknown host", http.StatusNotFound)
		return
	}
	target := "https://" + host + s.httpsPortSuffix() + r.URL.RequestURI()
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	http.Redirect(w, r, target, code)
}

// httpsPortSuffix is ":port" of HTTPSAddr, or "" for 443.
func (s *state) httpsPortSuffix() string {
	addr := s.cfg.HTTPSAddr
	if addr == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "443" || port == "https" {
		return ""
	}
	return ":" + port
}

// serves reports whether host is a name this Config serves HTTPS for.
func (s *state) serves(ctx context.Context, host string) bool {
	if host == "" || strings.ContainsAny(host, "/\\@?#[]:") {
		return false
	}
	if s.names[host] || s.cfg.Manager.Lookup(host) != nil {
		return true
	}
	return s.policy != nil && s.allowed(ctx, host) == nil
}
