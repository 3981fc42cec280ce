package acmetest_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acmetest"
)

func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	in, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return in
}

func TestDNSServer(t *testing.T) {
	s := acmetest.NewTestDNSServer(t)

	for _, network := range []string{"udp", "tcp"} {
		in := query(t, network, s.Addr(), "Anything.Example.", dns.TypeA)
		if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
			t.Errorf("%s A: %v", network, in)
		}
	}
	if in := query(t, "udp", s.Addr(), "anything.example", dns.TypeAAAA); len(in.Answer) != 0 || in.Rcode != dns.RcodeSuccess {
		t.Errorf("default AAAA: %v", in)
	}

	s.SetAddrs("v6.example", netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.2"))
	if in := query(t, "udp", s.Addr(), "V6.example", dns.TypeAAAA); len(in.Answer) != 1 || in.Answer[0].(*dns.AAAA).AAAA.String() != "::1" {
		t.Errorf("AAAA: %v", in)
	}
	if in := query(t, "udp", s.Addr(), "v6.example", dns.TypeA); len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != "127.0.0.2" {
		t.Errorf("A after SetAddrs: %v", in)
	}
	s.ResetAddrs("v6.example")
	if in := query(t, "udp", s.Addr(), "v6.example", dns.TypeA); len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("A after ResetAddrs: %v", in)
	}

	const name = "_acme-challenge.WWW.example.test"
	s.AddTXT(name, "one")
	s.AddTXT(name+".", "two")
	s.AddTXT(name, "two")
	long := string(make([]byte, 300))
	s.AddTXT(name, long)
	if got := s.TXT("_acme-challenge.www.example.test."); !slices.Equal(got, []string{"one", "two", long}) {
		t.Errorf("TXT() = %q", got)
	}
	in := query(t, "tcp", s.Addr(), name, dns.TypeTXT)
	var got []string
	for _, rr := range in.Answer {
		txt := rr.(*dns.TXT)
		joined := ""
		for _, part := range txt.Txt {
			joined += part
		}
		got = append(got, joined)
	}
	if len(got) != 3 || got[0] != "one" || got[1] != "two" || len(got[2]) < 300 {
		t.Errorf("TXT answer = %q", got)
	}
	s.RemoveTXT(name, "one")
	s.RemoveTXT(name, long)
	if got := s.TXT(name); !slices.Equal(got, []string{"two"}) {
		t.Errorf("after RemoveTXT: %q", got)
	}
	s.ClearTXT(name)
	if in := query(t, "udp", s.Addr(), name, dns.TypeTXT); len(in.Answer) != 0 {
		t.Errorf("after ClearTXT: %v", in)
	}

	s.SetCAA("example.test", "letsencrypt.org", ";")
	in = query(t, "udp", s.Addr(), "example.test", dns.TypeCAA)
	if len(in.Answer) != 2 || in.Answer[0].(*dns.CAA).Value != "letsencrypt.org" || in.Answer[0].(*dns.CAA).Tag != "issue" {
		t.Errorf("CAA: %v", in)
	}

	s.SetCNAME("_acme-challenge.alias.test", "_acme-challenge.delegated.test")
	s.SetTXT("_acme-challenge.delegated.test", "token")
	in = query(t, "udp", s.Addr(), "_acme-challenge.alias.test", dns.TypeTXT)
	if len(in.Answer) != 2 || in.Answer[0].(*dns.CNAME).Target != "_acme-challenge.delegated.test." || in.Answer[1].(*dns.TXT).Txt[0] != "token" {
		t.Errorf("TXT through CNAME: %v", in)
	}

	s.SetRcode("broken.test", dns.RcodeServerFailure)
	if in := query(t, "udp", s.Addr(), "broken.test", dns.TypeA); in.Rcode != dns.RcodeServerFailure {
		t.Errorf("SetRcode: rcode %d", in.Rcode)
	}
	s.ClearRcode("broken.test")
	if in := query(t, "udp", s.Addr(), "broken.test", dns.TypeA); in.Rcode != dns.RcodeSuccess {
		t.Errorf("ClearRcode: rcode %d", in.Rcode)
	}

	if n := s.QueryCount("BROKEN.test", dns.TypeA); n != 2 {
		t.Errorf("QueryCount = %d, want 2", n)
	}
	if n := len(s.Queries()); n != 12 {
		t.Errorf("Queries() has %d entries", n)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
