package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"syscall"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// common holds the flags the commands share: which CA, which account,
// which store, how long, how much to log.
type common struct {
	ca             string
	caRoot         string
	storeDir       string
	layout         string
	email          string
	accountName    string
	agreeTOS       bool
	eabKID         string
	eabHMAC        string
	accountKeyType string
	timeout        time.Duration
	logFlags
	env Env
}

// Groups of the common flags, by what a command does with them.
const (
	useCA      = 1 << iota // -ca, -ca-root
	useStore               // -store, -layout
	useAccount             // -email, -agree-tos, -eab-*, -account-key-type: registers accounts
	useEmail               // -email only: names the account in the store
	useTimeout             // -timeout
)

// register registers the common flags of the groups use; the others are
// accepted but hidden and without effect, so that scripts which give
// every command the same flags (-agree-tos to list) keep working, while
// each command's help shows only its own flags.
func (c *common) register(fs *flagSet, env Env, use int) {
	c.env = env
	c.ca, c.accountKeyType, c.timeout = "letsencrypt-staging", "ec256", 10*time.Minute
	opt := func(g int) []flagOpt {
		if use&g == 0 {
			return []flagOpt{hidden()}
		}
		return nil
	}
	fs.category = "CA"
	fs.String(&c.ca, "ca", "letsencrypt-staging", "CA: letsencrypt, letsencrypt-staging, or a directory URL", opt(useCA)...)
	fs.String(&c.caRoot, "ca-root", "", "PEM file of root certificates to trust for the CA's API (a private CA)", opt(useCA)...)
	fs.category = "Store"
	fs.String(&c.storeDir, "store", defaultStoreDir(env), "directory where certificates and accounts are kept", opt(useStore)...)
	fs.String(&c.layout, "layout", "", "store layout: standard, or shared (<name>.pem with key and chain, client.key); default: the store's own (shared if it holds client.key)", opt(useStore)...)
	fs.category = "Account"
	fs.String(&c.email, "email", "", "contact email for the account; also names it in the store unless -account does", opt(useAccount|useEmail)...)
	fs.String(&c.accountName, "account", "", "the account's name in the store (default: the -email, else \"default\")", opt(useAccount|useEmail)...)
	fs.Bool(&c.agreeTOS, "agree-tos", false, "agree to the CA's terms of service when registering", opt(useAccount)...)
	fs.String(&c.eabKID, "eab-kid", "", "external account binding key ID", opt(useAccount)...)
	fs.String(&c.eabHMAC, "eab-hmac", "", "external account binding HMAC key, base64url (prefer the environment variable)", append(opt(useAccount), secret())...)
	fs.String(&c.accountKeyType, "account-key-type", "ec256", "key type for a new account: ec256, ec384, rsa2048, rsa3072, rsa4096", opt(useAccount)...)
	fs.category = ""
	fs.Duration(&c.timeout, "timeout", 10*time.Minute, "give up after this long", opt(useTimeout)...)
	c.logFlags.register(fs)
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
		if c.env.Getenv != nil && defaultStoreDir(c.env) != "" {
			// There is a default: an empty -store (or $CERTKEEPER_STORE)
			// replaced it.
			return "", usagef("no store: -store (or $CERTKEEPER_STORE) is empty; give a directory, or leave it out for %s", defaultStoreDir(c.env))
		}
		return "", usagef("no store: give -store DIR or set $CERTKEEPER_STORE (there is no default without $HOME or $XDG_DATA_HOME)")
	}
	return c.storeDir, nil
}

func (c *common) directoryURL() (string, error) { return resolveCA(c.ca) }

// logger writes progress lines to stderr, as the logging flags say.
func (c *common) logger() *slog.Logger { return c.logFlags.logger(c.env.Stderr) }

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
	} else if err := c.checkLayout(context.Background(), d, layout); err != nil {
		return nil, err
	}
	return &store.Certs{Store: d, Layout: layout}, nil
}

// checkLayout refuses a -layout given for a store of the other layout
// (store.CheckLayout), as a usage error.
func (c *common) checkLayout(ctx context.Context, s store.Store, layout store.Layout) error {
	err := store.CheckLayout(ctx, s, layout)
	if errors.Is(err, store.ErrOtherLayout) {
		return usagef("-layout %s: %s: %v; leave -layout out, or give this layout a store directory of its own", layout, c.storeDir, err)
	}
	return err
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

// accountID names the account record in the store: -account, else the
// email, else "default"; always "default" in the shared layout, which
// holds one account.
func (c *common) accountID() string {
	switch {
	case c.layout == "shared":
		return "default"
	case c.accountName != "":
		return c.accountName
	case c.email != "":
		return c.email
	}
	return "default"
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
	id := c.accountID()
	acct, err := c.loadAccount(ctx, cl, certs, id)
	if errors.Is(err, fs.ErrNotExist) && id == "default" {
		// No account named: the store's only account at this CA, if it
		// has exactly one.
		if accts, lerr := certs.ListAccounts(ctx, ca); lerr == nil && len(accts) == 1 {
			return c.loadAccount(ctx, cl, certs, accts[0].ID)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return acme.Account{}, fmt.Errorf("no account for %s (%s) in %s: run \"certkeeper account register\" first", ca, id, c.storeDir)
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
			// The shared layout keeps only the key, and a damaged
			// account.json leaves only the key: find the account by it
			// (RFC 8555 §7.3.1).
			if rec.RecordErr != nil {
				c.logger().WarnContext(ctx, "the account record cannot be read; looking the account up by its key", "error", rec.RecordErr)
			}
			return cl.LookupAccount(ctx, key)
		}
		return acme.Account{Key: key, URL: rec.URL, Contact: rec.Contact, Status: acme.StatusValid}, nil
	}
	return acme.Account{}, err
}

// accountEngine is an engine over certs for the account commands, with
// the flags' account settings.
func (c *common) accountEngine(certs *store.Certs) (*engine.Engine, engine.AccountOptions, error) {
	opts, err := c.accountOptions()
	if err != nil {
		return nil, opts, err
	}
	eng, err := engine.New(engine.Config{Store: certs.Store, Layout: certs.Layout, Logger: c.logger(), UserAgent: "certkeeper-cli"})
	return eng, opts, err
}

// accountOptions are the flags' account settings for the engine.
func (c *common) accountOptions() (engine.AccountOptions, error) {
	opts := engine.AccountOptions{ID: c.accountID(), AgreeTOS: c.agreeTOS}
	if c.email != "" {
		opts.Contact = []string{"mailto:" + c.email}
	}
	kt, err := parseKeyType("account-key-type", c.accountKeyType)
	if err != nil {
		return opts, err
	}
	opts.KeyType = kt
	hmacKey := c.eabHMAC // -eab-hmac or $CERTKEEPER_EAB_HMAC
	if hmacKey != "" && c.env.Getenv("CERTKEEPER_EAB_HMAC") == "" {
		fmt.Fprintln(c.env.Stderr, "certkeeper: warning: -eab-hmac puts the HMAC key on the command line, where other users see it (ps, /proc) and shell history keeps it; set $CERTKEEPER_EAB_HMAC instead")
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
