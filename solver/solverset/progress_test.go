package solverset

import (
	"log/slog"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// The dns-01 solvers log their progress (the propagation delay and
// check) on the Env's Logger.
func TestBuildDNSLogger(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	env := Env{Logger: log}
	set, err := Build(Config{DNS01: &DNS01{Provider: "exec", Exec: "/bin/true"}}, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := set.Solvers[acme.ChallengeDNS01].(*dns01.Solver); !ok || s.Logger != log {
		t.Errorf("provider solver %#v: want a *dns01.Solver with the Env's Logger", set.Solvers[acme.ChallengeDNS01])
	}
}
