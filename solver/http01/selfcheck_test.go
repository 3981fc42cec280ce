package http01

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

func TestSelfCheck(t *testing.T) {
	const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	var seenHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenHost = r.Host
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
	if err := SelfCheck(ctx, srv.Client(), chal, addr); err != nil {
		t.Fatal(err)
	}
	if seenHost != "example.com" {
		t.Errorf("Host header %q, want the identifier", seenHost)
	}
	wrong := chal
	wrong.Token = "wrong"
	if err := SelfCheck(ctx, nil, wrong, addr); err == nil || !strings.Contains(err.Error(), `got body "something else"`) {
		t.Errorf("wrong body: %v", err)
	}
	missing := chal
	missing.Token = "missing"
	if err := SelfCheck(ctx, nil, missing, addr); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}
	bad := chal
	bad.Token = "../etc"
	if err := SelfCheck(ctx, nil, bad, addr); err == nil {
		t.Error("bad token accepted")
	}
	ip := chal
	ip.Identifier = acme.Identifier{Type: acme.IdentifierIP, Value: "2001:db8::1"}
	if err := SelfCheck(ctx, nil, ip, addr); err != nil || seenHost != "[2001:db8::1]" {
		t.Errorf("IPv6 identifier: %v, Host %q", err, seenHost)
	}
}

// selfCheckKeyAuth uses the token and account-key thumbprint of the
// examples in RFC 8555 §8.1 and §8.3.
const selfCheckKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
