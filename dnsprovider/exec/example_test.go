package exec_test

import (
	"time"

	"github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

func ExampleProvider() {
	// /usr/local/bin/dns-hook is called as
	//	dns-hook present _acme-challenge.www.example.com. VALUE
	//	dns-hook cleanup _acme-challenge.www.example.com. VALUE
	solver := &dns01.Solver{
		Provider:    &exec.Provider{Command: "/usr/local/bin/dns-hook", Timeout: time.Minute},
		Propagation: dns01.Propagation{Timeout: 5 * time.Minute},
	}
	_ = solver
}
