package cli

import (
	"time"

	"github.com/certkeeper/certkeeper/solver/solverset"
)

// config turns the solver flags into the shared solver configuration.
// TODO(merge): replaced by the solverset branch's full mapping.
func (s *solverFlags) config() (solverset.Config, error) {
	var cfg solverset.Config
	if s.webroot != "" && s.httpListen != "" {
		return cfg, usagef("-http-webroot and -http-listen both solve http-01: choose one")
	}
	if s.webroot != "" || s.httpListen != "" {
		cfg.HTTP01 = &solverset.HTTP01{Listen: s.httpListen, Webroot: s.webroot}
	}
	if s.tlsListen != "" {
		cfg.TLSALPN01 = &solverset.TLSALPN01{Listen: s.tlsListen}
	}
	if s.dnsHook != "" {
		cfg.DNS01 = &solverset.DNS01{Provider: "hook", Hook: s.dnsHook, Delay: solverset.Duration(s.dnsDelay)}
	}
	_ = time.Second
	return cfg, nil
}

// set reports whether any solver flag was given.
func (s *solverFlags) set() bool {
	return s.webroot != "" || s.httpListen != "" || s.tlsListen != "" || s.dnsHook != "" || s.dns.provider != ""
}
