package bindtest_test

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
)

func TestStart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := bindtest.Start(t, bindtest.Options{
		Keys:  []bindtest.Key{{Name: "k"}},
		Zones: []bindtest.Zone{{Name: "example.test", Records: []string{`txt IN TXT "a" "b"`}}},
	})
	t.Logf("named ready in %v at %s", time.Since(start), s.Addr)
	if got := s.TXT(t, "txt.example.test"); len(got) != 1 || got[0] != "ab" {
		t.Errorf("TXT = %q, want [ab]", got)
	}
	if r := s.Query(t, "ns1.example.test", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("ns1 A: %v", r.Answer)
	}
	if len(s.Keys) != 1 || s.Keys[0].Secret == "" || s.Keys[0].Name != "k." {
		t.Errorf("keys %+v", s.Keys)
	}
}
