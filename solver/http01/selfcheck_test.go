package http01

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

func TestSelfCheck(t *testing.T) {
	const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	var mu sync.Mutex
	var seenHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenHost = r.Host
		mu.Unlock()
		switch r.URL.Path {
		case challenge.HTTP01Path(token):
			fmt.Fprint(w, selfCheckKeyAuth+"\r\n")
		case challenge.HTTP01Path("wrong"):
			fmt.Fprint(w, "something else")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: token, KeyAuthorization: selfCheckKeyAuth,
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}}
	if err := SelfCheck(ctx, chal, addr); err != nil {
		t.Fatal(err)
	}
	if seenHost != "example.com" {
		t.Errorf("Host header %q, want the identifier", seenHost)
	}
	wrong := chal
	wrong.Token = "wrong"
	if err := SelfCheck(ctx, wrong, addr); err == nil || !strings.Contains(err.Error(), `got body "something else"`) {
		t.Errorf("wrong body: %v", err)
	}
	missing := chal
	missing.Token = "missing"
	if err := SelfCheck(ctx, missing, addr); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}
	bad := chal
	bad.Token = "../etc"
	if err := SelfCheck(ctx, bad, addr); err == nil {
		t.Error("bad token accepted")
	}
	ip := chal
	ip.Identifier = acme.Identifier{Type: acme.IdentifierIP, Value: "2001:db8::1"}
	if err := SelfCheck(ctx, ip, addr); err != nil || seenHost != "[2001:db8::1]" {
		t.Errorf("IPv6 identifier: %v, Host %q", err, seenHost)
	}
}

// selfCheckKeyAuth uses the token and account-key thumbprint of the
// examples in RFC 8555 §8.1 and §8.3.
const selfCheckKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

// caRules serves the validation URLs of TestSelfCheckCARules on one plain
// and one TLS server (whose certificate nobody trusts) and routes every
// connection SelfCheck makes to them by host and port, recording each
// host:port asked: nothing reaches the network.
type caRules struct {
	plain, tls *httptest.Server
	mu         sync.Mutex
	dialled    []string
}

func newCARules(t *testing.T, keyAuth string) *caRules {
	mux := http.NewServeMux()
	redirect := func(path, to string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) })
	}
	body := func(path, b string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, b) })
	}
	// /hops/N redirects N more times, then serves the key authorization.
	mux.HandleFunc("/hops/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		if n == 0 {
			fmt.Fprint(w, keyAuth)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hops/%d", n-1), http.StatusMovedPermanently)
	})
	mux.HandleFunc("/tls-only", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "plain HTTP", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, keyAuth)
	})
	redirect(challenge.HTTP01Path("toHTTPS"), "https://www.example.test/tls-only")
	redirect(challenge.HTTP01Path("toHTTPS443"), "https://www.example.test:443/tls-only")
	redirect(challenge.HTTP01Path("ten"), "/hops/9")
	redirect(challenge.HTTP01Path("eleven"), "/hops/10")
	redirect(challenge.HTTP01Path("toPort8080"), "http://www.example.test:8080/hops/0")
	redirect(challenge.HTTP01Path("toHTTPS8443"), "https://www.example.test:8443/tls-only")
	redirect(challenge.HTTP01Path("toFTP"), "ftp://www.example.test/x")
	redirect(challenge.HTTP01Path("toIP"), "http://127.0.0.1/hops/0")
	body(challenge.HTTP01Path("trailingSpace"), keyAuth+"\r\n\t \n")
	body(challenge.HTTP01Path("leadingSpace"), " "+keyAuth)
	body(challenge.HTTP01Path("tooLong"), keyAuth+strings.Repeat(" ", MaxBody-len(keyAuth)))
	body(challenge.HTTP01Path("justShortEnough"), keyAuth+strings.Repeat(" ", MaxBody-len(keyAuth)-1))
	body(challenge.HTTP01Path("extra"), keyAuth+"x")
	c := &caRules{plain: httptest.NewServer(mux), tls: httptest.NewTLSServer(mux)}
	t.Cleanup(c.plain.Close)
	t.Cleanup(c.tls.Close)
	return c
}

func (c *caRules) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	c.mu.Lock()
	c.dialled = append(c.dialled, hostport)
	c.mu.Unlock()
	var to string
	switch hostport {
	case "example.test:80", "www.example.test:80":
		to = c.plain.Listener.Addr().String()
	case "www.example.test:443":
		to = c.tls.Listener.Addr().String()
	default:
		return nil, fmt.Errorf("test: no route to %s", hostport)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (c *caRules) asked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dialled)
}

// TestSelfCheckCARules checks each rule of the CA's http-01 validation
// that SelfCheck follows (RFC 8555 §8.3, Let's Encrypt's documented
// behaviour): a server the check passes is one the CA would accept, and a
// redirect or body the CA refuses fails the check.
func TestSelfCheckCARules(t *testing.T) {
	const keyAuth = selfCheckKeyAuth // 87 bytes, as Let's Encrypt's
	srv := newCARules(t, keyAuth)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		token    string
		ok       bool
		redirect bool   // the error wraps ErrRedirect
		errHas   string // and says this
		never    string // a host:port that must not be dialled
	}{
		{token: "toHTTPS", ok: true},    // https target, certificate not verified
		{token: "toHTTPS443", ok: true}, // explicit :443
		{token: "ten", ok: true},        // exactly MaxRedirects redirects
		{token: "eleven", redirect: true, errHas: "more than 10 redirects"},
		{token: "toPort8080", redirect: true, errHas: "port 8080", never: "www.example.test:8080"},
		{token: "toHTTPS8443", redirect: true, errHas: "port 8443", never: "www.example.test:8443"},
		{token: "toFTP", redirect: true, errHas: "not an http or https URL"},
		{token: "toIP", redirect: true, errHas: "IP address", never: "127.0.0.1:80"},
		{token: "trailingSpace", ok: true},
		{token: "justShortEnough", ok: true},
		{token: "tooLong", errHas: "128 bytes or longer"},
		{token: "leadingSpace", errHas: "got body"},
		{token: "extra", errHas: "got body"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: tc.token, KeyAuthorization: keyAuth,
				Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}}
			err := selfCheck(ctx, chal, "", srv.dial)
			if tc.ok {
				if err != nil {
					t.Fatalf("the CA would accept this server, the self-check did not: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the CA would refuse this server, the self-check passed")
			}
			if errors.Is(err, ErrRedirect) != tc.redirect || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("got %v; want ErrRedirect %v and %q", err, tc.redirect, tc.errHas)
			}
			if tc.never != "" && slices.Contains(srv.asked(), tc.never) {
				t.Errorf("dialled %s, which the CA never connects to", tc.never)
			}
		})
	}
	if got := srv.asked(); !slices.Contains(got, "www.example.test:443") {
		t.Errorf("no https connection was made: %q", got)
	}
}

// An identifier that is not a DNS name or an IP address is refused with
// a clear error before anything is dialled: it would become the URL's
// host.
func TestSelfCheckRefusesBadIdentifier(t *testing.T) {
	const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	for _, v := range []string{"%65vil.example.test", "a..example.test", "*.example.test", "ex ample.test"} {
		dialled := false
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialled = true
			return nil, errors.New("no dialling in this test")
		}
		chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: token, KeyAuthorization: token + ".x",
			Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: v}}
		err := selfCheck(t.Context(), chal, "", dial)
		if err == nil || !strings.Contains(err.Error(), "invalid DNS identifier") || dialled {
			t.Errorf("%q: %v (dialled %v), want an invalid identifier error and no dial", v, err, dialled)
		}
	}
}
