package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// common holds the flags every command shares: which CA, which account,
// which store.
type common struct {
	ca             string
	caRoot         string
	storeDir       string
	layout         string
	email          string
	agreeTOS       bool
	eabKID         string
	eabHMAC        string
	accountKeyType string
	timeout        time.Duration
	quiet          bool
	env            Env
}

func (c *common) register(fs *flag.FlagSet, env Env) {
	c.env = env
	fs.StringVar(&c.ca, "ca", envOr(env, "CERTKEEPER_CA", "letsencrypt-staging"), "CA: letsencrypt, letsencrypt-staging, or a directory URL ($CERTKEEPER_CA)")
	fs.StringVar(&c.caRoot, "ca-root", env.Getenv("CERTKEEPER_CA_ROOT"), "PEM file of root certificates to trust for the CA's API (a private CA) ($CERTKEEPER_CA_ROOT)")
	fs.StringVar(&c.storeDir, "store", envOr(env, "CERTKEEPER_STORE", defaultStoreDir(env)), "directory where certificates and accounts are kept ($CERTKEEPER_STORE)")
	fs.StringVar(&c.layout, "layout", "", "store layout: standard, or shared (<name>.pem with key and chain, client.key); default: the store's own (shared if it holds client.key)")
	fs.StringVar(&c.email, "email", env.Getenv("CERTKEEPER_EMAIL"), "contact email for the account ($CERTKEEPER_EMAIL)")
	fs.BoolVar(&c.agreeTOS, "agree-tos", false, "agree to the CA's terms of service when registering")
	fs.StringVar(&c.eabKID, "eab-kid", env.Getenv("CERTKEEPER_EAB_KID"), "external account binding key ID ($CERTKEEPER_EAB_KID)")
	fs.StringVar(&c.eabHMAC, "eab-hmac", "", "external account binding HMAC key, base64url (prefer $CERTKEEPER_EAB_HMAC)")
	fs.StringVar(&c.accountKeyType, "account-key-type", "ec256", "key type for a new account: ec256, ec384, rsa2048, rsa3072, rsa4096")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.BoolVar(&c.quiet, "quiet", false, "print only errors")
}

func envOr(env Env, name, def string) string {
	if v := env.Getenv(name); v != "" {
		return v
	}
	return def
}

func defaultStoreDir(env Env) string {
	if d := env.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "certkeeper")
	}
	if h := env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "certkeeper")
	}
	return "" // no default: storeDir says so
}

// storeDirOrErr returns -store, or says that there is none: without
// $HOME or $XDG_DATA_HOME there is no default, rather than a directory
// made wherever the command happens to run.
func (c *common) storeDirOrErr() (string, error) {
	if c.storeDir == "" {
		return "", usagef("no store: give -store DIR or set $CERTKEEPER_STORE (there is no default without $HOME or $XDG_DATA_HOME)")
	}
	return c.storeDir, nil
}

func (c *common) directoryURL() (string, error) { return resolveCA(c.ca) }

// logger writes progress lines to stderr (nothing with -quiet).
func (c *common) logger() *slog.Logger {
	if c.quiet {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(c.env.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func (c *common) client() (*acme.Client, error) {
	u, err := c.directoryURL()
	if err != nil {
		return nil, err
	}
	if err := c.checkCARoot(); err != nil {
		return nil, err
	}
	return c.clientFor(u, c.caRootPath())
}

// clientFor is a client of the CA with directory URL ca, trusting the
// roots in the file caRoot ("" for the system's).
func (c *common) clientFor(ca, caRoot string) (*acme.Client, error) {
	hc, err := engine.DefaultHTTPClient(caRoot)
	if err != nil {
		return nil, fmt.Errorf("-ca-root: %w", err)
	}
	return &acme.Client{DirectoryURL: ca, HTTPClient: hc, UserAgent: "certkeeper-cli", Logger: c.logger()}, nil
}

func (c *common) certs() (*store.Certs, error) {
	layout, err := parseLayout(c.layout)
	if err != nil {
		return nil, err
	}
	if _, err := c.storeDirOrErr(); err != nil {
		return nil, err
	}
	d, err := store.NewDir(c.storeDir, storeDirOptions(c.env)...)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return nil, fmt.Errorf("the store %s is not writable: %w", c.storeDir, err)
	}
	if err != nil {
		return nil, err
	}
	if c.layout == "" {
		// The store's own layout; recorded, so that accountID names the
		// shared layout's one account.
		if layout, err = engine.DetectLayout(context.Background(), d); err != nil {
			return nil, err
		}
		c.layout = layout.String()
	}
	return &store.Certs{Store: d, Layout: layout}, nil
}

// open returns the CA client and the store the flags name.
func (c *common) open() (*acme.Client, *store.Certs, error) {
	cl, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	certs, err := c.certs()
	if err != nil {
		return nil, nil, err
	}
	return cl, certs, nil
}

// accountID names the account record in the store: the email, or
// "default" without one or in the shared layout, which holds one account.
func (c *common) accountID() string {
	if c.email == "" || c.layout == "shared" {
		return "default"
	}
	return c.email
}

// account loads the account for this CA and email from the store, or,
// when create is true and there is none, registers one and stores it
// (through the engine, the one place that registers accounts).
func (c *common) account(ctx context.Context, cl *acme.Client, certs *store.Certs, create bool) (acme.Account, error) {
	ca := cl.DirectoryURL
	if create {
		eng, err := engine.New(engine.Config{Store: certs.Store, Layout: certs.Layout, Logger: c.logger(), UserAgent: "certkeeper-cli"})
		if err != nil {
			return acme.Account{}, err
		}
		opts, err := c.accountOptions()
		if err != nil {
			return acme.Account{}, err
		}
		return eng.Account(ctx, ca, c.caRootPath(), opts)
	}
	acct, err := c.loadAccount(ctx, cl, certs, c.accountID())
	if errors.Is(err, fs.ErrNotExist) {
		return acme.Account{}, fmt.Errorf("no account for %s (%s) in %s: run \"certkeeper account register\" first", ca, c.accountID(), c.storeDir)
	}
	return acct, err
}

// loadAccount loads the account id at cl's CA from the store; an error
// wrapping fs.ErrNotExist if the store has none.
func (c *common) loadAccount(ctx context.Context, cl *acme.Client, certs *store.Certs, id string) (acme.Account, error) {
	rec, err := certs.LoadAccount(ctx, cl.DirectoryURL, id)
	if err == nil {
		key, err := keys.ParsePEM(rec.KeyPEM)
		if err != nil {
			return acme.Account{}, fmt.Errorf("stored account key: %w", err)
		}
		if rec.URL == "" {
			// The shared layout keeps only the key: find the account by it
			// (RFC 8555 §7.3.1).
			return cl.LookupAccount(ctx, key)
		}
		return acme.Account{Key: key, URL: rec.URL, Contact: rec.Contact, Status: acme.StatusValid}, nil
	}
	return acme.Account{}, err
}

// accountEngine is an engine over certs for the account commands.
func (c *common) accountEngine(certs *store.Certs) (*engine.Engine, error) {
	return engine.New(engine.Config{Store: certs.Store, Layout: certs.Layout, Logger: c.logger(), UserAgent: "certkeeper-cli"})
}

// accountOptions are the flags' account settings for the engine.
func (c *common) accountOptions() (engine.AccountOptions, error) {
	opts := engine.AccountOptions{ID: c.accountID(), AgreeTOS: c.agreeTOS}
	if c.email != "" {
		opts.Contact = []string{"mailto:" + c.email}
	}
	kt, err := keys.ParseType(c.accountKeyType)
	if err != nil {
		return opts, usageError{err.Error()}
	}
	opts.KeyType = kt
	hmacKey := c.eabHMAC
	if hmacKey != "" {
		fmt.Fprintln(c.env.Stderr, "certkeeper: warning: -eab-hmac puts the HMAC key on the command line, where other users see it (ps, /proc) and shell history keeps it; set $CERTKEEPER_EAB_HMAC instead")
	}
	if hmacKey == "" {
		hmacKey = c.env.Getenv("CERTKEEPER_EAB_HMAC")
	}
	if c.eabKID != "" || hmacKey != "" {
		if c.eabKID == "" || hmacKey == "" {
			return opts, usagef("external account binding needs both -eab-kid and -eab-hmac")
		}
		mac, err := decodeBase64URL(hmacKey)
		if err != nil {
			return opts, usagef("-eab-hmac: %v", err)
		}
		opts.EABKeyID, opts.EABHMAC = c.eabKID, mac
	}
	return opts, nil
}

// caRootPath is -ca-root made absolute, as lineage records keep it.
func (c *common) caRootPath() string {
	if c.caRoot == "" {
		return ""
	}
	if abs, err := filepath.Abs(c.caRoot); err == nil {
		return abs
	}
	return c.caRoot
}

func (c *common) saveAccount(ctx context.Context, cl *acme.Client, certs *store.Certs, acct acme.Account) error {
	keyPEM, err := keys.MarshalPEM(acct.Key)
	if err != nil {
		return err
	}
	return certs.SaveAccount(ctx, cl.DirectoryURL, c.accountID(), store.AccountRecord{
		URL: acct.URL, KeyPEM: keyPEM, Contact: acct.Contact,
	})
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseFlags parses args with fs and turns a bad flag into a usageError,
// so that it exits with ExitUsage; flag.ErrHelp is returned as it is.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}

func newFlagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("certkeeper "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// listFlag collects a repeatable or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func printf(w io.Writer, format string, a ...any) { fmt.Fprintf(w, format, a...) }

// storeDirOptions: a store directory someone else could write is refused
// (store.ErrUntrusted) unless $CERTKEEPER_UNTRUSTED_STORE is "warn".
func storeDirOptions(env Env) []store.DirOption {
	if env.Getenv("CERTKEEPER_UNTRUSTED_STORE") != "warn" {
		return nil
	}
	return []store.DirOption{store.AllowUntrusted(func(err error) {
		fmt.Fprintf(env.Stderr, "certkeeper: warning: %v (used anyway: $CERTKEEPER_UNTRUSTED_STORE=warn)\n", err)
	})}
}
