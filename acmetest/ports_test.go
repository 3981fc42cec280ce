package acmetest

import (
	"fmt"
	"net"
	"testing"
)

// TestValidationPortsClaimed: ports handed out are not handed out again
// while their claim is open (here a second claim stands for another
// Pebble, of this test binary or another), stay bindable for the test's
// solver, and are free again once the claim is closed.
func TestValidationPortsClaimed(t *testing.T) {
	first, claim, err := validationPorts(2)
	if err != nil {
		t.Fatal(err)
	}
	if claim == nil {
		t.Skip("no room below the ephemeral port range: ports are not claimed")
	}
	defer claim.Close()
	if first[0] == first[1] {
		t.Fatalf("the same port twice: %v", first)
	}
	for range 20 {
		more, c2, err := validationPorts(2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range more {
			if p == first[0] || p == first[1] {
				t.Errorf("port %d handed out again while claimed", p)
			}
		}
		c2.Close()
	}
	for _, p := range first {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("a solver cannot bind the claimed port %d: %v", p, err)
		}
		l.Close()
	}
	claim.Close()
	for _, p := range first {
		m, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d still marked after Close: %v", p, err)
		}
		m.Close()
	}
	claim.Close() // twice is harmless
}
