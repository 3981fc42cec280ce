package solverset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/certkeeper/certkeeper/solver/http01"
	solverserver "github.com/certkeeper/certkeeper/solver/internal/server"
)

// Prepare checks, before any order is placed, everything that can be
// checked locally, and reports every problem at once (errors.Join of
// *KeyError, each naming its setting):
//
//   - the built-in servers' addresses (http01.listen, tlsalpn01.listen)
//     bind; they then stay bound, serving challenges as they are
//     presented, until Close, so that nothing else takes a port between
//     this check and the order;
//   - http01.webroot exists and is a directory;
//   - dns01.exec (or its former spelling dns01.hook) is executable (looked up in $PATH
//     without a slash);
//   - the files named (tsig_key_file, tsig_secret_file,
//     webhook_authorization_file, acme_dns_accounts) are readable;
//   - a secret named by an environment variable is set.
//
// On error nothing stays bound. Prepare on a Set whose servers are
// already bound checks again and keeps them. A Set not made by Build has
// nothing to check.
func (s *Set) Prepare(ctx context.Context) error {
	errs := s.cfg.localChecks(s.env)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.servers {
		if err := srv.s.Listen(ctx); err != nil {
			errs = append(errs, listenError(srv.key, err))
			continue
		}
		if !containsServer(s.held, srv) {
			s.held = append(s.held, srv)
		}
	}
	if len(errs) > 0 {
		s.closeLocked()
		return s.env.named(errors.Join(errs...))
	}
	return nil
}

func containsServer(list []server, srv server) bool {
	for _, x := range list {
		if x.s == srv.s {
			return true
		}
	}
	return false
}

// Close releases what Prepare holds: the built-in servers stop, and free
// their ports, once no presented challenge needs them. It is safe to call
// on a Set never prepared, on a nil Set, and more than once.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *Set) closeLocked() error {
	var errs []error
	for _, srv := range s.held {
		if err := srv.s.Close(); err != nil {
			errs = append(errs, &KeyError{Key: srv.key, Err: err})
		}
	}
	s.held = nil
	return errors.Join(errs...)
}

// Check runs every check of Validate, Build and Set.Prepare without
// keeping anything: ports are bound and released at once. It is for a
// configuration check ("certkeeper run -check") that must not hold the
// ports a running instance uses. Every problem is reported at once.
func (c Config) Check(ctx context.Context, env Env) error {
	if err := c.Validate(); err != nil {
		return err
	}
	errs := c.localChecks(env)
	if len(errs) > 0 {
		// Build would only repeat these (a missing file, an unset
		// secret); the ports are still worth a look.
		for _, l := range c.listens() {
			ln, err := solverserver.Listen(ctx, l.addr, l.who, l.alt)
			if err != nil {
				errs = append(errs, listenError(l.key, err))
				continue
			}
			ln.Close()
		}
		return errors.Join(errs...)
	}
	s, err := Build(c, nil, env)
	if err != nil {
		return err
	}
	err = s.Prepare(ctx)
	return errors.Join(err, s.Close())
}

// listen is a built-in server's address, for Check.
type listen struct{ key, addr, who, alt string }

func (c Config) listens() []listen {
	var l []listen
	if h := c.HTTP01; h != nil && h.Listen != "" {
		l = append(l, listen{"http01.listen", h.Listen, "http01 standalone", solverserver.HTTPBusyAdvice})
	}
	if t := c.TLSALPN01; t != nil && t.Listen != "" {
		l = append(l, listen{"tlsalpn01.listen", t.Listen, "tlsalpn01 standalone", solverserver.TLSBusyAdvice})
	}
	return l
}

// listenError is err, a built-in server's failure to listen, as the
// KeyError of its setting key ("http01.listen"), worded for the setting
// rather than for the solver: "127.0.0.1:80 is already in use (…)",
// naming other settings through Message. It wraps the listener's error
// (errors.Is(err, syscall.EADDRINUSE)).
func listenError(key string, err error) error {
	var le *solverserver.ListenError
	if !errors.As(err, &le) {
		return &KeyError{Key: key, Err: err}
	}
	switch {
	case errors.Is(le.Err, syscall.EADDRINUSE) && key == "http01.listen":
		return keyErrCause(key, le.Err, "%s is already in use (another program serves this port: answer http-01 from its document root with %s, or stop it)",
			le.Addr, ref("http01.webroot"))
	case errors.Is(le.Err, syscall.EADDRINUSE):
		return keyErrCause(key, le.Err, "%s is already in use (%s)", le.Addr, le.Advice)
	case errors.Is(le.Err, syscall.EACCES):
		return keyErrCause(key, le.Err, "no permission to listen on %s (ports below 1024 need CAP_NET_BIND_SERVICE)", le.Addr)
	}
	return keyErrCause(key, le.Err, "cannot listen on %s: %v", le.Addr, le.Err)
}

// localChecks checks the webroot, the programs, the files and the
// secrets c names; not the ports.
func (c Config) localChecks(env Env) []error {
	var errs []error
	if h := c.HTTP01; h != nil && h.Webroot != "" {
		if err := http01.CheckWebroot(h.Webroot); err != nil {
			// Worded for the setting, without the solver's name.
			errs = append(errs, &KeyError{Key: "http01.webroot", Err: &causeError{msg: strings.TrimPrefix(err.Error(), "http01 webroot: "), cause: err}})
		}
	}
	d := c.DNS01
	if d == nil {
		return errs
	}
	program := func(key, cmd string) {
		if cmd == "" {
			return
		}
		if _, err := exec.LookPath(cmd); err != nil {
			errs = append(errs, &KeyError{Key: key, Err: fmt.Errorf("not an executable program: %w", err)})
		}
	}
	readable := func(key, path string) {
		if path == "" {
			return
		}
		f, err := os.Open(path)
		if err == nil {
			var st os.FileInfo
			if st, err = f.Stat(); err == nil && st.IsDir() {
				err = fmt.Errorf("%s is a directory", path)
			}
			f.Close()
		}
		if err != nil {
			errs = append(errs, &KeyError{Key: key, Err: err})
		}
	}
	switch d.provider() {
	case ProviderExec:
		if d.Hook != "" {
			program("dns01.hook", d.Hook)
		} else {
			program("dns01.exec", d.Exec)
		}
	case ProviderRFC2136:
		readable("dns01.tsig_key_file", d.TSIGKeyFile)
		readable("dns01.tsig_secret_file", d.TSIGSecretFile)
		if d.TSIGKeyFile == "" && d.TSIGName != "" && d.TSIGSecretFile == "" && env.getenv(d.tsigSecretEnv()) == "" {
			errs = append(errs, d.tsigSecretMissing())
		}
	case ProviderWebhook:
		readable("dns01.webhook_authorization_file", d.WebhookAuthorizationFile)
		if e := d.WebhookAuthorizationEnv; e != "" && env.getenv(e) == "" {
			errs = append(errs, keyErr("dns01.webhook_authorization_env", "$%s is not set", e))
		}
	case ProviderACMEDNS:
		readable("dns01.acme_dns_accounts", d.ACMEDNSAccounts)
	}
	return errs
}
