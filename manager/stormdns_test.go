package manager_test

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// stormDNS starts, for b, the resolver the storm's Pebbles validate
// through: every name has the address 127.0.0.1 and nothing else, as
// acmetest's DNSServer answers by default, but nothing is recorded. The
// DNSServer keeps every question it answered (acmetest.DNSQuery), some
// six per certificate: 0.6 KB a certificate in the test process's heap
// that BenchmarkRenewalStorm's live-heap figure would count as the
// client's. It returns the server's host:port (UDP and TCP).
func stormDNS(b *testing.B) string {
	b.Helper()
	var (
		pc net.PacketConn
		l  net.Listener
	)
	// A free UDP port may be taken in TCP: try another, as acmetest's
	// StartDNSServer does.
	for attempt := 1; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if attempt == 10 {
			b.Fatalf("storm DNS server: %v", err)
		}
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		for _, q := range req.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udp := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: notify}
	tcp := &dns.Server{Listener: l, Handler: h, NotifyStartedFunc: notify}
	errs := make(chan error, 2)
	go func() { errs <- udp.ActivateAndServe() }()
	go func() { errs <- tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errs:
			udp.Shutdown()
			tcp.Shutdown()
			b.Fatalf("storm DNS server: %v", err)
		}
	}
	b.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return pc.LocalAddr().String()
}
