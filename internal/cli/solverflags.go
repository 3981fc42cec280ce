package cli

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/dns01"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// solverFlags configures the challenge solvers of obtain and renew.
type solverFlags struct {
	prefer     listFlag
	webroot    string
	httpListen string
	tlsListen  string
	dnsHook    string
	dnsDelay   time.Duration
	dns        dnsFlags
}

func (s *solverFlags) register(fs *flag.FlagSet) {
	fs.Var(&s.prefer, "challenge", "challenge types to use, in order of preference (http-01, tls-alpn-01, dns-01); default: every type configured below")
	fs.StringVar(&s.webroot, "http-webroot", "", "http-01: write challenge files under DIR/.well-known/acme-challenge/")
	fs.StringVar(&s.httpListen, "http-listen", "", "http-01: answer on this address with a built-in server (e.g. :80, 127.0.0.1:5002, [::1]:80)")
	fs.StringVar(&s.tlsListen, "tls-listen", "", "tls-alpn-01: answer on this address with a built-in server (e.g. :443)")
	fs.StringVar(&s.dnsHook, "dns-hook", "", "dns-01: run \"CMD present|cleanup RECORD-NAME VALUE\" to add and remove the TXT record")
	fs.DurationVar(&s.dnsDelay, "dns-delay", 0, "dns-01: wait this long after the hook added the record, for DNS propagation")
	s.dns.register(fs)
}

func (s *solverFlags) solvers(env Env) (map[acme.ChallengeType]challenge.Solver, []acme.ChallengeType, error) {
	m := map[acme.ChallengeType]challenge.Solver{}
	if s.webroot != "" && s.httpListen != "" {
		return nil, nil, usagef("-http-webroot and -http-listen both solve http-01: choose one")
	}
	if s.webroot != "" {
		m[acme.ChallengeHTTP01] = &http01.Webroot{Dir: s.webroot}
	}
	if s.httpListen != "" {
		m[acme.ChallengeHTTP01] = &http01.Standalone{Addr: s.httpListen}
	}
	if s.tlsListen != "" {
		m[acme.ChallengeTLSALPN01] = &tlsalpn01.Standalone{Addr: s.tlsListen}
	}
	if s.dnsHook != "" {
		hook := s.dnsHook
		run := func(op string) func(ctx context.Context, chal acme.Challenge) error {
			return func(ctx context.Context, chal acme.Challenge) error {
				name, value, err := challenge.RecordFor(chal)
				if err != nil {
					return err
				}
				cmd := exec.CommandContext(ctx, hook, op, name, value)
				cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("dns hook %s %s: %w", op, name, err)
				}
				return nil
			}
		}
		m[acme.ChallengeDNS01] = &dns01.Callback{PresentFunc: run("present"), CleanUpFunc: run("cleanup"), PropagationDelay: s.dnsDelay}
	}
	if err := s.dns.addSolvers(m, env, s.dnsDelay); err != nil {
		return nil, nil, err
	}
	if len(m) == 0 {
		return nil, nil, usagef("no challenge solver configured: give -http-listen, -http-webroot, -tls-listen, -dns-hook or -dns-provider")
	}
	var pref []acme.ChallengeType
	for _, p := range s.prefer {
		t := acme.ChallengeType(p)
		if m[t] == nil {
			return nil, nil, usagef("-challenge %s: no solver for it is configured", p)
		}
		pref = append(pref, t)
	}
	return m, pref, nil
}
