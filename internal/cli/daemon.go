package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/prommetrics"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// reloadKey carries, in the context given to Main, a channel that makes
// the daemon reload its configuration as SIGHUP does: tests use it instead
// of signalling their own process.
type reloadKey struct{}

// withReload returns ctx carrying the reload channel ch.
func withReload(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, reloadKey{}, ch)
}

func runDaemon(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("run", env)
	path := fs.String("config", env.Getenv("CERTKEEPER_CONFIG"), "the configuration file (TOML, see docs/daemon.md) ($CERTKEEPER_CONFIG)")
	check := fs.Bool("check", false, "check the configuration file and exit")
	quiet := fs.Bool("quiet", false, "log only warnings and errors")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: certkeeper run -config FILE\n\nKeeps the certificates of FILE valid until stopped; SIGHUP reloads FILE.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run takes no arguments")
	}
	if *path == "" {
		return usagef("give the configuration file with -config")
	}
	if *check {
		return checkDaemonConfig(ctx, env, *path)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError{err.Error()}
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	d := &daemon{env: env, path: *path, log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})), solvers: map[string]map[acme.ChallengeType]challenge.Solver{}}
	return d.run(ctx, cfg)
}

// daemon is "certkeeper run": one manager kept in step with a file.
type daemon struct {
	env  Env
	path string
	log  *slog.Logger

	cfg     *config.Config
	client  *acme.Client
	account acme.Account
	certs   *store.Certs
	m       *manager.Manager
	// solvers are shared by the certificates with the same solver
	// settings (one standalone server per address), across reloads.
	solvers map[string]map[acme.ChallengeType]challenge.Solver
	managed []string

	// Cluster mode (a shared store, cluster.go).
	shared    *shared.Solver
	listening map[string]bool
	closers   []io.Closer
}

// common turns the file's CA, account and store into the shared flags'
// values, to reuse their client, store and registration code.
func (d *daemon) common(cfg *config.Config) (*common, error) {
	c := &common{
		ca: cfg.CA.DirectoryURL(), caRoot: cfg.CA.Root,
		storeDir: cfg.Store.Dir, layout: cfg.Store.Layout,
		email: cfg.Account.Email, agreeTOS: cfg.Account.AgreeTOS,
		eabKID: cfg.CA.EABKeyID, eabHMAC: cfg.CA.EABHMAC,
		accountKeyType: cfg.Account.KeyType,
		env:            d.env,
	}
	if cfg.CA.EABHMACFile != "" {
		b, err := os.ReadFile(cfg.CA.EABHMACFile)
		if err != nil {
			return nil, fmt.Errorf("ca.eab_hmac_file: %w", err)
		}
		c.eabHMAC = string(b)
	}
	return c, nil
}

// connect makes the client and loads or registers the account.
func (d *daemon) connect(ctx context.Context, cfg *config.Config) (*acme.Client, acme.Account, *store.Certs, error) {
	c, err := d.common(cfg)
	if err != nil {
		return nil, acme.Account{}, nil, err
	}
	cl, err := c.client()
	if err != nil {
		return nil, acme.Account{}, nil, err
	}
	cl.Logger = d.log
	cl.UserAgent = "certkeeper-daemon"
	certs, err := d.openStore(ctx, cfg, c)
	if err != nil {
		return nil, acme.Account{}, nil, err
	}
	unlock, err := d.lockAccount(ctx, certs, cl.DirectoryURL)
	if err != nil {
		return nil, acme.Account{}, nil, err
	}
	acct, err := c.account(ctx, cl, certs, true)
	unlock()
	if err != nil {
		return nil, acme.Account{}, nil, err
	}
	return cl, acct, certs, nil
}

func (d *daemon) run(ctx context.Context, cfg *config.Config) error {
	var err error
	mx, err := d.startMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.closeAll()
	if d.client, d.account, d.certs, err = d.connect(ctx, cfg); err != nil {
		return err
	}
	if d.cluster() {
		go func() { _ = d.shared.Watch(ctx) }()
	}
	if mx != nil {
		d.client.OnRequest = mx.ObserveRequest
	}
	mcfg, err := managerConfig(cfg, d.certs, d.log)
	if err != nil {
		return err
	}
	if mx != nil {
		mcfg.Metrics = mx
	}
	if d.m, err = manager.New(mcfg); err != nil {
		return err
	}
	d.cfg = cfg
	if err := d.manage(ctx, cfg); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload, _ := ctx.Value(reloadKey{}).(<-chan struct{})

	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- d.m.Run(ctx) })
	wg.Go(func() {
		if err := d.m.Ready(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("first pass done with failures; they are retried on the backoff schedule", "error", err)
		} else if ctx.Err() == nil {
			d.log.Info("first pass done: every certificate is valid")
		}
	})
	d.log.Info("daemon started", "config", d.path, "certificates", len(cfg.Certs), "ca", d.client.DirectoryURL)
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping")
			return nil
		case err := <-runErr:
			return fmt.Errorf("manager stopped: %w", err)
		case <-hup:
			d.reload(ctx)
		case <-reload:
			d.reload(ctx)
		}
	}
}

// reload reads the file again and applies its certificates; a file that
// does not load leaves everything as it was.
func (d *daemon) reload(ctx context.Context) {
	cfg, err := config.Load(d.path)
	if err != nil {
		d.log.Error("reload failed; keeping the running configuration", "error", err)
		return
	}
	// A reload that fails part-way leaves everything as it was: the CA
	// client and account go back if managing the new file fails.
	oldClient, oldAccount := d.client, d.account
	if !reflect.DeepEqual(cfg.CA, d.cfg.CA) || !reflect.DeepEqual(cfg.Account, d.cfg.Account) {
		cl, acct, _, err := d.connect(ctx, cfg)
		if err != nil {
			d.log.Error("reload failed: new CA or account; keeping the running configuration", "error", err)
			return
		}
		cl.OnRequest = d.client.OnRequest
		d.client, d.account = cl, acct
	}
	for _, section := range []struct {
		name     string
		old, new any
	}{
		{"store", d.cfg.Store, cfg.Store},
		{"renewal", d.cfg.Renewal, cfg.Renewal},
		{"hook", d.cfg.Hooks, cfg.Hooks},
		{"metrics", d.cfg.Metrics, cfg.Metrics},
	} {
		if !reflect.DeepEqual(section.old, section.new) {
			d.log.Warn("reload: changes to this section take effect at the next start", "section", section.name)
		}
	}
	if err := d.manage(ctx, cfg); err != nil {
		d.client, d.account = oldClient, oldAccount
		d.log.Error("reload failed; keeping the running configuration", "error", err)
		return
	}
	keep := cfg
	keep.Store, keep.Renewal, keep.Hooks, keep.Metrics = d.cfg.Store, d.cfg.Renewal, d.cfg.Hooks, d.cfg.Metrics
	d.cfg = keep
	d.log.Info("configuration reloaded", "certificates", len(cfg.Certs))
}

// manage hands the file's certificates to the manager and stops managing
// those no longer in it.
func (d *daemon) manage(ctx context.Context, cfg *config.Config) error {
	mcs := make([]manager.Certificate, 0, len(cfg.Certs))
	names := make([]string, 0, len(cfg.Certs))
	for _, c := range cfg.Certs {
		mc, err := d.certificate(cfg, c)
		if err != nil {
			return err
		}
		mcs = append(mcs, mc)
		names = append(names, mc.Name)
	}
	if err := d.m.Manage(ctx, mcs...); err != nil {
		return err
	}
	var gone []string
	for _, n := range d.managed {
		if !slices.Contains(names, n) {
			gone = append(gone, n)
		}
	}
	if len(gone) > 0 {
		d.m.Unmanage(gone...)
		d.log.Info("no longer managed (the store keeps them)", "names", gone)
	}
	d.managed = names
	return nil
}

func (d *daemon) certificate(cfg *config.Config, c config.Certificate) (manager.Certificate, error) {
	sv := cfg.Solvers
	if c.Solvers != nil {
		sv = *c.Solvers
	}
	solvers, err := d.solversFor(sv)
	if err != nil {
		return manager.Certificate{}, fmt.Errorf("certificate %q: %w", c.Name, err)
	}
	var pref []acme.ChallengeType
	for _, p := range c.Challenges {
		pref = append(pref, acme.ChallengeType(p))
	}
	reuse := c.ReuseKey != nil && *c.ReuseKey
	return manager.Certificate{
		Name:           c.Name,
		Identifiers:    c.Identifiers,
		Issuer:         &issue.Issuer{Client: d.client, Account: d.account, Solvers: solvers, Preference: pref, Logger: d.log},
		KeyType:        keys.Type(c.KeyType),
		ReuseKey:       reuse,
		Profile:        c.Profile,
		PreferredChain: c.PreferredChain,
	}, nil
}

// solversFor returns the solvers for one [solvers] table, the same
// instances for the same settings.
func (d *daemon) solversFor(sv config.Solvers) (map[acme.ChallengeType]challenge.Solver, error) {
	key := solverKey(sv)
	if m := d.solvers[key]; m != nil {
		return m, nil
	}
	local := sv
	if d.cluster() {
		// Built-in servers answer from the shared store (cluster.go).
		local = withoutServers(sv)
	}
	senv := solverEnv(d.env)
	senv.Logger = d.log
	set, err := solverset.Build(local, nil, senv)
	if err != nil {
		return nil, prefixKeys("solvers", err)
	}
	m := set.Solvers
	if d.cluster() {
		if err := d.clusterSolvers(sv, m); err != nil {
			return nil, err
		}
	}
	d.solvers[key] = m
	return m, nil
}

// solverKey identifies a [solvers] table by its settings (its JSON, whose
// maps are written in key order).
func solverKey(sv config.Solvers) string {
	b, err := json.Marshal(sv)
	if err != nil {
		return fmt.Sprintf("%#v", sv) // a Config always marshals; never here
	}
	return string(b)
}

// managerConfig maps the file's renewal and hook settings onto the
// manager's.
func managerConfig(cfg *config.Config, certs *store.Certs, log *slog.Logger) (manager.Config, error) {
	r := cfg.Renewal
	mc := manager.Config{
		Store:         certs.Store,
		Layout:        certs.Layout,
		Logger:        log,
		CheckInterval: r.CheckInterval.D(),
		RenewFraction: r.RenewFraction,
		ReissueBefore: r.ReissueBefore.D(),
		PanicBefore:   r.PanicBefore.D(),
		Jitter:        r.Jitter,
	}
	for _, b := range r.Backoff {
		mc.Backoff = append(mc.Backoff, b.D())
	}
	for _, h := range cfg.Hooks {
		mh := manager.Hook{Command: h.Command, Args: h.Args, Timeout: h.Timeout.D()}
		for _, e := range h.Events {
			mh.Events = append(mh.Events, manager.EventType(e))
		}
		mc.Hooks = append(mc.Hooks, mh)
	}
	return mc, nil
}

// startMetrics serves /metrics (Prometheus) when the file asks for it,
// until ctx is done.
func (d *daemon) startMetrics(ctx context.Context, cfg *config.Config) (*prommetrics.Metrics, error) {
	if cfg.Metrics.Listen == "" {
		return nil, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pm := prommetrics.New(reg)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	d.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return pm, nil
}
