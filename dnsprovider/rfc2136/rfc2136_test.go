package rfc2136_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
)

func startBIND(t *testing.T) *bindtest.Server {
	return bindtest.Start(t, bindtest.Options{
		Keys: []bindtest.Key{{Name: "k256", Algorithm: "hmac-sha256"}, {Name: "k512", Algorithm: "hmac-sha512"}},
		Zones: []bindtest.Zone{
			{Name: "example.test"},
			{Name: "sub.example.test"},
			{Name: "readonly.test", Update: "none"},
		},
	})
}

func provider(s *bindtest.Server, k bindtest.Key) *rfc2136.Provider {
	return &rfc2136.Provider{Server: s.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestAddRemoveCoexisting(t *testing.T) {
	t.Parallel()
	s := startBIND(t)
	for _, alg := range []string{"hmac-sha256", "hmac-sha512"} {
		for _, netw := range []string{"", "tcp"} {
			t.Run(alg+"/"+netw, func(t *testing.T) {
				p := provider(s, s.Key(t, alg))
				p.Net = netw
				name := "_acme-challenge." + strings.TrimPrefix(alg, "hmac-") + netw + ".example.test."
				start := time.Now()
				if err := p.AddTXT(ctx(t), "", name, "wildcard-value"); err != nil {
					t.Fatal(err)
				}
				t.Logf("first update (zone lookup + add) took %v", time.Since(start))
				start = time.Now()
				if err := p.AddTXT(ctx(t), "example.test.", name, "base-value"); err != nil {
					t.Fatal(err)
				}
				t.Logf("add with known zone took %v", time.Since(start))
				got := s.TXT(t, name)
				slices.Sort(got)
				if !slices.Equal(got, []string{"base-value", "wildcard-value"}) {
					t.Fatalf("TXT after two adds = %q", got)
				}
				if err := p.RemoveTXT(ctx(t), "", name, "wildcard-value"); err != nil {
					t.Fatal(err)
				}
				if got := s.TXT(t, name); !slices.Equal(got, []string{"base-value"}) {
					t.Fatalf("TXT after removing one = %q, want [base-value]", got)
				}
				if err := p.RemoveTXT(ctx(t), "", name, "base-value"); err != nil {
					t.Fatal(err)
				}
				if got := s.TXT(t, name); len(got) != 0 {
					t.Fatalf("TXT after removing both = %q", got)
				}
			})
		}
	}
}

func TestLongValue(t *testing.T) {
	t.Parallel()
	s := startBIND(t)
	p := provider(s, s.Keys[0])
	long := strings.Repeat("x", 300)
	if err := p.AddTXT(ctx(t), "", "long.example.test", long); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "long.example.test"); !slices.Equal(got, []string{long}) {
		t.Fatalf("TXT = %q", got)
	}
}

func TestFindZone(t *testing.T) {
	t.Parallel()
	s := startBIND(t)
	p := provider(s, s.Keys[0])
	for name, want := range map[string]string{
		"_acme-challenge.www.example.test":   "example.test.",
		"example.test.":                      "example.test.",
		"_acme-challenge.a.sub.example.test": "sub.example.test.",
		"x.readonly.test":                    "readonly.test.",
	} {
		got, err := p.FindZone(ctx(t), name)
		if err != nil || got != want {
			t.Errorf("FindZone(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := p.FindZone(ctx(t), "www.elsewhere.test"); err == nil {
		t.Error("FindZone outside the server's zones: want an error")
	}
}

func TestWrongSecret(t *testing.T) {
	t.Parallel()
	s := startBIND(t)
	k := s.Keys[0]
	k.Secret = "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE="
	err := provider(s, k).AddTXT(ctx(t), "example.test.", "_acme-challenge.example.test.", "v")
	var ue *rfc2136.UpdateError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an UpdateError", err)
	}
	if ue.Rcode != dns.RcodeNotAuth || ue.TSIGError != dns.RcodeBadSig {
		t.Errorf("rcode %d tsig %d, want NOTAUTH/BADSIG", ue.Rcode, ue.TSIGError)
	}
	if !strings.Contains(err.Error(), "NOTAUTH/BADSIG") || !strings.Contains(err.Error(), "secret does not match") {
		t.Errorf("error does not explain itself: %v", err)
	}
	t.Log(err)
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	s := startBIND(t)
	k := s.Keys[0]
	k.Name = "nobody"
	err := provider(s, k).AddTXT(ctx(t), "example.test.", "_acme-challenge.example.test.", "v")
	var ue *rfc2136.UpdateError
	if !errors.As(err, &ue) || ue.TSIGError != dns.RcodeBadKey {
		t.Fatalf("got %v, want NOTAUTH/BADKEY", err)
	}
	t.Log(err)
}

func TestRefused(t *testing.T) {
	t.Parallel()
	s := startBIND(t)
	err := provider(s, s.Keys[0]).AddTXT(ctx(t), "", "_acme-challenge.readonly.test.", "v")
	var ue *rfc2136.UpdateError
	if !errors.As(err, &ue) || ue.Rcode != dns.RcodeRefused {
		t.Fatalf("got %v, want REFUSED", err)
	}
	if !strings.Contains(err.Error(), "REFUSED") || !strings.Contains(err.Error(), "allow-update") {
		t.Errorf("error does not explain itself: %v", err)
	}
	t.Log(err)
	// Unsigned updates are refused too.
	err = (&rfc2136.Provider{Server: s.Addr}).AddTXT(ctx(t), "example.test.", "_acme-challenge.example.test.", "v")
	if !errors.As(err, &ue) || ue.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned: got %v, want REFUSED", err)
	}
}

func TestNameOutsideZone(t *testing.T) {
	t.Parallel()
	p := &rfc2136.Provider{Server: "127.0.0.1:1"}
	if err := p.AddTXT(context.Background(), "example.test.", "_acme-challenge.other.test.", "v"); err == nil || !strings.Contains(err.Error(), "not in zone") {
		t.Fatalf("got %v", err)
	}
	p.Key = rfc2136.Key{Name: "k", Algorithm: "hmac-md5", Secret: "YQ=="}
	if err := p.AddTXT(context.Background(), "example.test.", "_acme-challenge.example.test.", "v"); err == nil || !strings.Contains(err.Error(), "unsupported TSIG algorithm") {
		t.Fatalf("got %v", err)
	}
}

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	// As printed by "tsig-keygen -a hmac-sha512 acme-key" (BIND 9.18).
	in := `# comment
key "acme-key" {
	algorithm hmac-sha512;
	secret "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ=";
};
`
	k, err := rfc2136.ParseKeyFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "acme-key" || k.Algorithm != "hmac-sha512" || !strings.HasPrefix(k.Secret, "c2Vj") {
		t.Errorf("got %+v", k)
	}
	for _, bad := range []string{"", "key x { algorithm hmac-sha256; };", `key "x" { secret "!!"; };`, `key "x" { algorithm md5; secret "YQ=="; };`} {
		if _, err := rfc2136.ParseKeyFile([]byte(bad)); err == nil {
			t.Errorf("ParseKeyFile(%q): want an error", bad)
		}
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(`key "acme-key" { algorithm hmac-sha256; secret "YWJj"; };`))
	f.Add([]byte("/* x */ key k { secret YQ==; } // y"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := rfc2136.ParseKeyFile(data)
		if err == nil && (k.Name == "" || k.Secret == "") {
			t.Fatalf("accepted a key without name or secret: %+v", k)
		}
	})
}
