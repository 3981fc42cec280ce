package challenge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

func TestValidToken(t *testing.T) {
	good := []string{"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", "a", "A-_9", strings.Repeat("x", 256)}
	bad := []string{"", "../x", "a/b", "tok=en", "a.b", "a b", "é", "a\x00", strings.Repeat("x", 257), "..", "a+b"}
	for _, s := range good {
		if !ValidToken(s) {
			t.Errorf("ValidToken(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidToken(s) {
			t.Errorf("ValidToken(%q) = true", s)
		}
	}
}

func TestCheckHTTP01(t *testing.T) {
	const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	var seenHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenHost = r.Host
		switch r.URL.Path {
		case HTTP01Path(token):
			fmt.Fprint(w, testKeyAuth+"\r\n")
		case HTTP01Path("wrong"):
			fmt.Fprint(w, "something else")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: token, KeyAuthorization: testKeyAuth,
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}}
	if err := CheckHTTP01(ctx, srv.Client(), chal, addr); err != nil {
		t.Fatal(err)
	}
	if seenHost != "example.com" {
		t.Errorf("Host header %q, want the identifier", seenHost)
	}
	wrong := chal
	wrong.Token = "wrong"
	if err := CheckHTTP01(ctx, nil, wrong, addr); err == nil || !strings.Contains(err.Error(), `got body "something else"`) {
		t.Errorf("wrong body: %v", err)
	}
	missing := chal
	missing.Token = "missing"
	if err := CheckHTTP01(ctx, nil, missing, addr); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}
	bad := chal
	bad.Token = "../etc"
	if err := CheckHTTP01(ctx, nil, bad, addr); err == nil {
		t.Error("bad token accepted")
	}
	ip := chal
	ip.Identifier = acme.Identifier{Type: acme.IdentifierIP, Value: "2001:db8::1"}
	if err := CheckHTTP01(ctx, nil, ip, addr); err != nil || seenHost != "[2001:db8::1]" {
		t.Errorf("IPv6 identifier: %v, Host %q", err, seenHost)
	}
}
