package acmetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// freePorts returns n distinct TCP ports that were free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portClaim marks validation ports as handed out for as long as their
// owner (a Pebble) lives: it holds a UDP socket on 127.0.0.1 at each
// port's number. The TCP port stays unbound for the test's solver to
// bind; another claim (of this process or any other) finds the UDP port
// taken and passes over it. The mark is the operating system's, so no
// table of ports is kept in the package, and it goes with Close.
type portClaim struct {
	marks []net.PacketConn
}

// Close releases the ports. It is safe on a nil claim and more than once.
func (c *portClaim) Close() {
	if c == nil {
		return
	}
	for _, m := range c.marks {
		_ = m.Close()
	}
	c.marks = nil
}

// validationPorts returns n distinct TCP ports that were free on
// 127.0.0.1, for Pebble to validate challenges on, and the claim that
// keeps them from being handed out again until it is closed. They stay
// unbound until a test's solver binds them, possibly long after: so they
// are taken below the system's ephemeral port range, from which listeners
// on port 0 (another test's proxy or server) and outgoing connections
// draw theirs and could take them in between. Where that range leaves no
// room below it, they are picked as freePorts does, unclaimed.
func validationPorts(n int) ([]int, *portClaim, error) {
	const lo = 20000
	hi := ephemeralLow()
	if hi-lo < 1000 {
		ports, err := freePorts(n)
		return ports, nil, err
	}
	claim := &portClaim{}
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n && tries < 10000; tries++ {
		p := lo + rand.IntN(hi-lo)
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		mark, err := net.ListenPacket("udp", addr)
		if err != nil { // claimed by another Pebble, or in use
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			mark.Close()
			continue
		}
		l.Close()
		claim.marks = append(claim.marks, mark)
		ports = append(ports, p)
	}
	if len(ports) < n {
		claim.Close()
		ports, err := freePorts(n)
		return ports, nil, err
	}
	return ports, claim, nil
}

// ephemeralLow returns the first port of the system's ephemeral range
// (Linux's ip_local_port_range; else 32768, below both Linux's and the
// IANA range of 49152).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}
