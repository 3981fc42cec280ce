package acmetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
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

// The validation ports handed out by this process.
var (
	validationMu    sync.Mutex
	validationGiven = map[int]bool{}
)

// validationPorts returns n distinct TCP ports that were free on
// 127.0.0.1, for Pebble to validate challenges on. They stay unbound
// until a test's solver binds them, possibly long after: so they are
// taken below the system's ephemeral port range, from which listeners on
// port 0 (another test's proxy or server) and outgoing connections draw
// theirs and could take them in between, and never twice by one process.
// Where that range leaves no room below it, they are picked as freePorts
// does.
func validationPorts(n int) ([]int, error) {
	const lo = 20000
	hi := ephemeralLow()
	if hi-lo < 1000 {
		return freePorts(n)
	}
	validationMu.Lock()
	defer validationMu.Unlock()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n && tries < 10000; tries++ {
		p := lo + rand.IntN(hi-lo)
		if validationGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		validationGiven[p] = true
		ports = append(ports, p)
	}
	if len(ports) < n {
		return freePorts(n)
	}
	return ports, nil
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
