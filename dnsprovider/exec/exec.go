// Package exec publishes ACME challenge TXT records by running a program
// of the user's: a script calling a DNS host's command-line tool or API.
//
// The program is run as
//
//	COMMAND [ARGS...] present FQDN VALUE
//	COMMAND [ARGS...] cleanup FQDN VALUE
//
// (the same words as the CLI's -dns-hook), with these variables added to
// its environment:
//
//	CERTKEEPER_DNS_ACTION  present or cleanup
//	CERTKEEPER_DNS_ZONE    the zone holding FQDN, e.g. "example.com.", or
//	                       "" when it could not be found (see below)
//	CERTKEEPER_DNS_FQDN    e.g. "_acme-challenge.www.example.com."
//	CERTKEEPER_DNS_VALUE   the TXT value
//
// The program's environment is the Env field's (by default an empty one:
// the package reads no environment of its own) without its secrets: CERTKEEPER_EAB_HMAC, CERTKEEPER_TSIG_SECRET,
// CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION, the variables of Unset and every
// variable whose name contains SECRET, TOKEN, PASSWORD, PASSWD,
// PASSPHRASE, HMAC, CREDENTIAL or AUTHORIZATION or ends in KEY (unless
// its value is an absolute path). A program that needs a credential reads
// it from a file of its own.
//
// FQDN is checked before the program runs: a DNS name of letters, digits,
// '-', '_' and '.', no control character, no newline, at most 253 bytes.
//
// "present" must add VALUE to the TXT records at FQDN, keeping others;
// "cleanup" must delete that value only. Exit status 0 means done.
//
// The zone is only a hint (the Provider is a dns01.ZoneOptional): when
// the dns01.Solver cannot find it, because its resolvers do not answer
// SOA queries for instance, it runs the program with an empty
// CERTKEEPER_DNS_ZONE and logs why. Give the zones in dns01.Solver.Zones
// to have them without any lookup.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	osexec "os/exec"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/internal/runcmd"
	"github.com/certkeeper/certkeeper/internal/secenv"
)

// Provider runs Command for each record. It is safe for concurrent use;
// the program may be run for several records at once.
type Provider struct {
	// Command is the program, a path or a name looked up in $PATH.
	// Required.
	Command string
	// Args come before the action word.
	Args []string
	// Env is the program's environment before the CERTKEEPER_DNS_*
	// variables are added, "NAME=value" entries as os.Environ returns
	// them: give os.Environ() for this process's. nil means an empty one
	// (the program is still found in this process's PATH). Its secrets
	// are dropped (see the package documentation).
	Env []string
	// Unset names further variables dropped from Env: those settings
	// read secrets from.
	Unset []string
	// Output, if set, also receives the program's stdout and stderr. It
	// is written from one goroutine at a time, also when several runs
	// are in progress.
	Output io.Writer
	// Timeout bounds each run, in addition to the context. 0 means 2
	// minutes.
	Timeout time.Duration

	// outputMu serializes writes to Output across concurrent runs.
	outputMu sync.Mutex
}

// AddTXT runs "COMMAND ARGS present FQDN VALUE".
func (p *Provider) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	return p.run(ctx, "present", zone, fqdn, value)
}

// RemoveTXT runs "COMMAND ARGS cleanup FQDN VALUE".
func (p *Provider) RemoveTXT(ctx context.Context, zone, fqdn, value string) error {
	return p.run(ctx, "cleanup", zone, fqdn, value)
}

// ZoneOptional reports true (dns01.ZoneOptional): the zone is a hint to
// the program, CERTKEEPER_DNS_ZONE, empty when it could not be found.
func (p *Provider) ZoneOptional() bool { return true }

func (p *Provider) run(ctx context.Context, action, zone, fqdn, value string) error {
	if p.Command == "" {
		return errors.New("exec: Provider.Command is empty")
	}
	if err := CheckRecordName(fqdn); err != nil {
		return fmt.Errorf("exec: %s %s: %w", p.Command, action, err)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append(append([]string(nil), p.Args...), action, fqdn, value)
	env := append(secenv.Filter(p.Env, p.Unset...),
		"CERTKEEPER_DNS_ACTION="+action,
		"CERTKEEPER_DNS_ZONE="+zone,
		"CERTKEEPER_DNS_FQDN="+fqdn,
		"CERTKEEPER_DNS_VALUE="+value,
	)
	out := &tail{max: 2048}
	var w io.Writer = out
	if p.Output != nil {
		w = io.MultiWriter(out, &lockedWriter{mu: &p.outputMu, w: p.Output})
	}
	if err := runcmd.Run(ctx, func() *osexec.Cmd {
		cmd := osexec.CommandContext(ctx, p.Command, args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = w, w
		cmd.WaitDelay = 5 * time.Second
		runcmd.KillGroup(cmd) // its children too, when ctx ends
		return cmd
	}); err != nil {
		msg := strings.TrimSpace(out.String())
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		if msg != "" {
			return fmt.Errorf("exec: %s %s %s: %w; output: %s", p.Command, action, fqdn, err, msg)
		}
		return fmt.Errorf("exec: %s %s %s: %w", p.Command, action, fqdn, err)
	}
	return nil
}

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, nil))
}

type lockedWriter struct {
	mu *sync.Mutex // shared by every run of one Provider
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// CheckRecordName returns an error unless name (a record name such as
// "_acme-challenge.www.example.com.", with or without the final dot) is a
// DNS name a program can be given safely: labels of letters, digits, '-'
// and '_' (and '*' as a whole first label), no empty label, no control
// character or newline, at most 253 bytes.
func CheckRecordName(name string) error {
	return challenge.CheckRecordName(name)
}
