package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/engine"
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

func daemonCommand() command {
	return command{
		name: "run", summary: "run the daemon: keep the certificates of a config file valid",
		about: `Keeps the certificates of the configuration file (TOML, docs/daemon.md)
valid until stopped, and every other certificate of its store; SIGHUP
reloads the file. -check checks the file and exits.`,
		examples: []string{
			"certkeeper run -config /etc/certkeeper/certkeeper.toml",
			"certkeeper run -config certkeeper.toml -check",
			"CERTKEEPER_CONFIG=/etc/certkeeper.toml certkeeper run -log-format json",
		},
		setup: setupDaemon,
	}
}

func setupDaemon(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	path := fs.StringP("config", "", "the configuration file (TOML, see docs/daemon.md)")
	check := fs.BoolP("check", false, "check the configuration file and exit")
	var lf logFlags
	lf.register(fs)
	return func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
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
		d := &daemon{env: env, path: *path, log: lf.logger(env.Stderr)}
		d.warnDeprecated(cfg)
		return d.run(ctx, cfg)
	}
}

// daemon is "certkeeper run": the engine over the file's store, kept in
// step with the file.
type daemon struct {
	env  Env
	path string
	log  *slog.Logger

	cfg   *config.Config
	certs *store.Certs
	eng   *engine.Engine

	// Cluster mode (a shared store, cluster.go).
	shared    *shared.Solver
	listening map[string]bool
	closers   []io.Closer
}

func (d *daemon) run(ctx context.Context, cfg *config.Config) error {
	defer d.closeAll()
	certs, err := d.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	d.certs = certs
	if !d.cluster() {
		// Everything runs under the lock's context: the lock lost, the
		// daemon stops (lockLost).
		locked, unlock, err := d.lockStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer unlock()
		ctx = locked
	}
	mx, err := d.startMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	ecfg := engine.Config{
		Store:     certs.Store,
		Layout:    certs.Layout,
		Manager:   managerConfig(cfg, d.env),
		Logger:    d.log,
		SolverEnv: solverset.Env{Getenv: d.env.Getenv, Output: d.env.Stderr, Environ: d.env.environ(), Logger: d.log, Names: config.SolverKeyOrNone},
		UserAgent: "certkeeper-daemon",
		// A plain-HTTP CA only for tests against a local CA.
		AllowHTTPCA: d.env.Getenv("CERTKEEPER_INSECURE_HTTP_CA") == "1",
	}
	if mx != nil {
		ecfg.Manager.Metrics = mx
		ecfg.OnRequest = mx.ObserveRequest
	}
	if d.cluster() {
		ecfg.BuildSolvers = d.clusterSolvers
		go func() { _ = d.shared.Watch(ctx) }()
	}
	if d.eng, err = engine.New(ecfg); err != nil {
		return err
	}
	defer d.eng.Close()
	managed, err := d.manage(ctx, cfg)
	if err != nil {
		return err
	}
	d.cfg = cfg
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload, _ := ctx.Value(reloadKey{}).(<-chan struct{})

	d.log.Info("daemon started", "config", d.path, "certificates", len(managed.Given)+len(managed.Stored),
		"from_file", len(managed.Given), "from_store", len(managed.Stored), "ca", cfg.CA.DirectoryURL(),
		"managing", "the file's certificates and every other certificate of the store, each renewed as recorded; nothing is asked of the CA until an order is due")
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- d.eng.Run(ctx) })
	wg.Go(func() {
		if err := d.eng.Manager().Ready(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("first pass done with failures; they are retried on the backoff schedule", "error", err)
		} else if ctx.Err() == nil {
			d.log.Info("first pass done: every certificate is valid")
		}
	})
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return d.stopped(ctx, cfg, &wg)
		case err := <-runErr:
			if ctx.Err() != nil {
				// Stopped by ctx (an interrupt, the lock lost) before
				// this loop saw it.
				return d.stopped(ctx, cfg, &wg)
			}
			return fmt.Errorf("manager stopped: %w", err)
		case <-hup:
			d.reload(ctx)
		case <-reload:
			d.reload(ctx)
		}
	}
}

// warnDeprecated logs each former key the file uses, with the key to
// write instead.
func (d *daemon) warnDeprecated(cfg *config.Config) {
	for _, n := range cfg.Deprecated {
		d.log.Warn("configuration: "+n, "file", d.path)
	}
}

// reload reads the file again and applies its certificates; a file that
// does not load, or whose certificates cannot be used, leaves everything
// as it was.
func (d *daemon) reload(ctx context.Context) {
	cfg, err := config.Load(d.path)
	if err != nil {
		d.log.Error("reload failed; keeping the running configuration", "error", err)
		return
	}
	d.warnDeprecated(cfg)
	for _, section := range []struct {
		name     string
		old, new any
	}{
		{"store", d.cfg.Store, cfg.Store},
		{"renewal", d.cfg.Renewal, cfg.Renewal},
		{"metrics", d.cfg.Metrics, cfg.Metrics},
	} {
		if !reflect.DeepEqual(section.old, section.new) {
			d.log.Warn("reload: changes to this section take effect at the next start", "section", section.name)
		}
	}
	keep := *cfg
	// The hooks are the certificates' (manage): they change with them.
	keep.Store, keep.Renewal, keep.Metrics = d.cfg.Store, d.cfg.Renewal, d.cfg.Metrics
	managed, err := d.manage(ctx, &keep)
	if err != nil {
		d.log.Error("reload failed; keeping the running configuration", "error", err)
		return
	}
	d.cfg = &keep
	d.log.Info("configuration reloaded", "certificates", len(managed.Given)+len(managed.Stored),
		"from_file", len(managed.Given), "from_store", len(managed.Stored))
}

// manage records the file's certificates as lineages and hands them, with
// every other certificate of the store, to the engine.
func (d *daemon) manage(ctx context.Context, cfg *config.Config) (engine.Managed, error) {
	ls, err := fileLineages(cfg)
	if err != nil {
		return engine.Managed{}, err
	}
	acct, err := fileAccount(cfg)
	if err != nil {
		return engine.Managed{}, err
	}
	if cfg.CA.EABHMAC != "" {
		d.log.Warn("eab-hmac holds the HMAC key in the configuration file itself; put it in a file of its own (mode 0600) named by eab-hmac-file")
	}
	m, err := d.eng.Manage(ctx, ls, engine.ManageOptions{
		Account:   acct,
		Stored:    true,
		DefaultCA: cfg.CA.DirectoryURL(),
		// The file's certificates record the hooks (fileLineages); the
		// store's others run them too when the daemon orders them.
		StoredHooks: fileHooks(cfg),
		DefaultSolvers: func(l *store.Lineage) {
			_ = engine.SetSolvers(l, cfg.Solvers) // a Config always marshals
			l.Challenges = cfg.Defaults.Challenges
		},
	})
	if err != nil {
		return m, err
	}
	if len(m.Stored) > 0 {
		names := make([]string, len(m.Stored))
		for i, l := range m.Stored {
			names[i] = l.Name
		}
		d.log.Info("also managing the store's certificates that are not in the file, each renewed as it was obtained", "names", names)
	}
	for _, r := range m.Skipped {
		switch {
		case errors.Is(r.Err, engine.ErrNameTaken):
			d.log.Info("not managing a stored certificate: the file's certificate of the same name is managed", "name", r.Name, "ca", r.CA)
		case r.Name == "":
			d.log.Warn("not managing a stored certificate", "error", r.Err)
		default:
			d.log.Warn("not managing a stored certificate", "name", r.Name, "ca", r.CA, "error", r.Err)
		}
	}
	if len(m.Unmanaged) > 0 {
		d.log.Info("no longer managed (the store keeps their files)", "names", m.Unmanaged)
	}
	return m, nil
}

// fileLineages turns the file's certificates into lineage records: how
// each is obtained, as the file says.
func fileLineages(cfg *config.Config) ([]store.Lineage, error) {
	root := cfg.CA.Root
	if root != "" {
		if abs, err := filepath.Abs(root); err == nil {
			root = abs
		}
	}
	acctID := fileAccountID(cfg)
	ls := make([]store.Lineage, 0, len(cfg.Certs))
	for _, c := range cfg.Certs {
		sv := cfg.Solvers
		if c.Solvers != nil {
			sv = *c.Solvers
		}
		l := store.Lineage{
			Name:           c.Name,
			CA:             cfg.CA.DirectoryURL(),
			CARoot:         root,
			Account:        acctID,
			Identifiers:    slices.Clone(c.Names),
			KeyType:        c.KeyType,
			ReuseKey:       c.ReuseKey != nil && *c.ReuseKey,
			Challenges:     slices.Clone(c.Challenges),
			Profile:        c.Profile,
			PreferredChain: c.PreferredChain,
			Hooks:          fileHooks(cfg),
		}
		if err := engine.SetSolvers(&l, sv); err != nil {
			return nil, fmt.Errorf("certificate %q: %w", c.Name, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// fileHooks are the file's [[hook]]s as lineage records: what the file
// says, each with its events, a program named with a relative path made
// absolute (a cron job does not run in the daemon's directory), one
// named without a slash left to be found in PATH when it runs.
func fileHooks(cfg *config.Config) []store.LineageHook {
	var hs []store.LineageHook
	for _, h := range cfg.Hooks {
		cmd := h.Command
		if strings.ContainsRune(cmd, '/') && !filepath.IsAbs(cmd) {
			if abs, err := filepath.Abs(cmd); err == nil {
				cmd = abs
			}
		}
		lh := store.LineageHook{Command: cmd, Args: slices.Clone(h.Args), Events: slices.Clone(h.Events)}
		if len(lh.Args) == 0 {
			lh.Args = nil // as a record read back holds it
		}
		if len(lh.Events) == 0 {
			lh.Events = nil
		}
		if d := h.Timeout.D(); d > 0 {
			lh.Timeout = d.String()
		}
		hs = append(hs, lh)
	}
	return hs
}

// fileAccountID names the file's account in the store: its email, or
// "default" without one or in the shared layout, which holds one account
// (as the command line names it).
func fileAccountID(cfg *config.Config) string {
	if cfg.Account.Email == "" || cfg.Store.Layout == "shared" {
		return "default"
	}
	return cfg.Account.Email
}

// fileAccount is the file's [account] and external account binding.
func fileAccount(cfg *config.Config) (engine.AccountOptions, error) {
	opts := engine.AccountOptions{ID: fileAccountID(cfg), AgreeTOS: cfg.Account.AgreeTOS, KeyType: keys.Type(cfg.Account.KeyType)}
	if cfg.Account.Email != "" {
		opts.Contact = []string{"mailto:" + cfg.Account.Email}
	}
	if cfg.CA.EABKeyID == "" {
		return opts, nil
	}
	hmacKey := cfg.CA.EABHMAC
	if cfg.CA.EABHMACFile != "" {
		b, err := os.ReadFile(cfg.CA.EABHMACFile)
		if err != nil {
			return opts, fmt.Errorf("ca.eab_hmac_file: %w", err)
		}
		hmacKey = string(b)
	}
	mac, err := decodeBase64URL(hmacKey)
	if err != nil {
		return opts, fmt.Errorf("ca.eab_hmac: %w", err)
	}
	opts.EABKeyID, opts.EABHMAC = cfg.CA.EABKeyID, mac
	return opts, nil
}

// managerConfig maps the file's renewal settings onto the manager's (the
// engine sets its store and logger).
func managerConfig(cfg *config.Config, env Env) manager.Config {
	r := cfg.Renewal
	// The file's hooks are not Config.Hooks, which would run beside the
	// same hooks recorded in the lineages of the file's certificates:
	// they are each certificate's own (see manage).
	mc := manager.Config{
		HookRunner:    hookRunner(env),
		CheckInterval: r.CheckInterval.D(),
		RenewFraction: r.RenewFraction,
		ReissueBefore: r.ReissueBefore.D(),
		PanicBefore:   r.PanicBefore.D(),
		Jitter:        r.Jitter,
	}
	for _, b := range r.Backoff {
		mc.Backoff = append(mc.Backoff, b.D())
	}
	// Hooks get no variable a [solvers] table reads a secret from.
	mc.SecretEnv = cfg.Solvers.SecretEnv()
	for _, c := range cfg.Certs {
		if c.Solvers != nil {
			mc.SecretEnv = append(mc.SecretEnv, c.Solvers.SecretEnv()...)
		}
	}
	return mc
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
	var h http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	auth := cfg.Metrics.Username != ""
	if auth {
		pw, err := os.ReadFile(cfg.Metrics.PasswordFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("metrics.password_file: %w", err)
		}
		h = prommetrics.RequireBasicAuth(h, cfg.Metrics.Username, strings.TrimSpace(string(pw)))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
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
	switch {
	case prommetrics.Exposed(ln.Addr()) && !auth:
		d.log.Warn(prommetrics.ExposureWarning, "listen", ln.Addr().String())
	case prommetrics.Exposed(ln.Addr()):
		d.log.Warn("metrics served on a non-loopback address behind basic authentication, whose password travels in the clear: a network you trust, or a TLS proxy in front", "listen", ln.Addr().String())
	}
	return pm, nil
}
