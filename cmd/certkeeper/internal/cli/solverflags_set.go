package cli

// set reports whether any solver flag was given.
func (s *solverFlags) set() bool {
	return s.webroot != "" || s.httpListen != "" || s.tlsListen != "" || s.dnsHook != "" || s.dns.provider != ""
}
