package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// backend returns the backend of env named name, or nil.
func (env Env) backend(name string) store.Backend {
	for _, b := range env.Backends {
		if b.Name() == name {
			return b
		}
	}
	return nil
}

// openStore returns the store of cfg: a directory, or the store that
// the backend of Env.Backends named by store-backend opens from its
// table [NAME] (a cluster's shared store).
func (d *daemon) openStore(ctx context.Context, cfg *config.Config) (*store.Certs, error) {
	layout := store.LayoutStandard
	if cfg.Store.Layout == "shared" {
		layout = store.LayoutShared
	}
	if cfg.Store.Backend == "" || cfg.Store.Backend == "dir" {
		dir, err := store.NewDir(cfg.Store.Dir, storeDirOptions(d.env)...)
		if err != nil {
			return nil, err
		}
		setStaleLockAfter(ctx, dir)
		if err := fileLayoutFits(ctx, dir, cfg); err != nil {
			return nil, err
		}
		return &store.Certs{Store: dir, Layout: layout}, nil
	}
	b := d.env.backend(cfg.Store.Backend)
	if b == nil {
		return nil, fmt.Errorf("store-backend = %q: this certkeeper binary does not know it", cfg.Store.Backend)
	}
	st, err := b.Open(ctx, cfg.Store.Section)
	if err != nil {
		return nil, fmt.Errorf("store (%s): %w", cfg.Store.Backend, err)
	}
	d.shared = &shared.Solver{Store: st, Logger: d.log}
	return &store.Certs{Store: st, Layout: layout}, nil
}

// fileLayoutFits refuses, as a usage error naming the key layout, a
// file whose layout is not the one of the store st already holds
// (store.CheckLayout): the daemon would write its certificates beside
// the others', in another layout, where no later command sees them.
func fileLayoutFits(ctx context.Context, st store.Store, cfg *config.Config) error {
	layout, other := store.LayoutStandard, "shared"
	if cfg.Store.Layout == "shared" {
		layout, other = store.LayoutShared, "standard"
	}
	err := store.CheckLayout(ctx, st, layout)
	if errors.Is(err, store.ErrOtherLayout) {
		return usageError{fmt.Sprintf("layout: the store %s: %v: write layout = %q in the file, or give the %s layout a store of its own", cfg.Store.Dir, err, other, layout)}
	}
	return err
}

// cluster reports whether the daemon shares its store with other
// instances.
func (d *daemon) cluster() bool { return d.shared != nil }

// clusterSolvers is the engine's BuildSolvers in a cluster: the built-in
// http-01 and tls-alpn-01 servers of cfg are replaced by servers that run
// as long as the daemon and answer from the shared store, whichever
// instance presented; the other solvers are built as usual.
func (d *daemon) clusterSolvers(cfg solverset.Config, challenges []string, env solverset.Env) (*solverset.Set, error) {
	// Built as configured first, for its checks and its preference
	// (nothing is bound by Build).
	full, err := solverset.Build(cfg, challenges, env)
	if err != nil {
		return nil, err
	}
	set, err := solverset.Build(withoutServers(cfg), nil, env)
	if err != nil {
		return nil, err
	}
	set.Preference = full.Preference
	if h := cfg.HTTP01; h != nil && h.Listen != "" {
		srv := &http.Server{Handler: d.shared.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
		if err := d.listen("http", h.Listen, srv.Serve); err != nil {
			return nil, err
		}
		set.Solvers[acme.ChallengeHTTP01] = d.shared
	}
	if t := cfg.TLSALPN01; t != nil && t.Listen != "" {
		if err := d.listen("tls", t.Listen, func(l net.Listener) error {
			tl := tls.NewListener(l, &tls.Config{
				MinVersion: tls.VersionTLS12,
				NextProtos: []string{challenge.ALPNProto},
				GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
					if c, ok := d.shared.GetCertificate(hello); ok {
						return c, nil
					}
					return nil, fmt.Errorf("no tls-alpn-01 challenge presented for %q", hello.ServerName)
				},
			})
			for {
				c, err := tl.Accept()
				if err != nil {
					return err
				}
				go func() {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					_ = c.(*tls.Conn).Handshake()
					c.Close()
				}()
			}
		}); err != nil {
			return nil, err
		}
		set.Solvers[acme.ChallengeTLSALPN01] = d.shared
	}
	return set, nil
}

// withoutServers returns sv without its built-in http-01 and tls-alpn-01
// servers, which clusterSolvers replaces.
func withoutServers(sv solverset.Config) solverset.Config {
	if h := sv.HTTP01; h != nil && h.Listen != "" {
		sv.HTTP01 = nil
	}
	if t := sv.TLSALPN01; t != nil && t.Listen != "" {
		sv.TLSALPN01 = nil
	}
	return sv
}

// listen starts serve on addr once per kind and address. closeAll closes
// the listener, which ends serve.
func (d *daemon) listen(kind, addr string, serve func(net.Listener) error) error {
	key := kind + " " + addr
	if d.listening[key] {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("challenge server: %w", err)
	}
	if d.listening == nil {
		d.listening = map[string]bool{}
	}
	d.listening[key] = true
	d.closers = append(d.closers, l)
	d.log.Info("answering challenges from the shared store", "type", kind, "listen", l.Addr().String())
	go func() {
		if err := serve(l); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("challenge server stopped", "listen", addr, "error", err)
		}
	}()
	return nil
}

// closeAll stops the challenge servers and closes the store.
func (d *daemon) closeAll() {
	for _, c := range d.closers {
		_ = c.Close()
	}
	if d.certs != nil {
		if c, ok := d.certs.Store.(io.Closer); ok {
			_ = c.Close()
		}
	}
}
