package engine

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// AccountOptions say which account to use at a CA and how to register it
// if the store has none (RFC 8555 §7.3).
type AccountOptions struct {
	// ID names the account in the store (store.AccountRecord.ID); ""
	// means "default". The shared layout holds one account, client.key:
	// there every ID is "default" (an email given as ID changes only the
	// account's contact, through Contact).
	ID string
	// Contact lists the contact URLs wanted ("mailto:…"). Nil keeps the
	// account's; otherwise a stored account whose contacts differ is
	// updated at the CA (§7.3.2) and in the store.
	Contact []string
	// AgreeTOS agrees to the CA's terms of service, which registering at
	// a CA that has them requires.
	AgreeTOS bool
	// EABKeyID and EABHMAC bind a new account to one the CA knows by
	// other means (§7.3.4); the CA's directory says when that is
	// required.
	EABKeyID string
	EABHMAC  []byte
	// KeyType is the type of a new account key; "" means keys.EC256.
	KeyType keys.Type
}

func (o AccountOptions) id() string {
	if o.ID == "" {
		return "default"
	}
	return o.ID
}

// accountOptions returns opts as the engine's layout holds them: in the
// shared layout, which holds one account, ID is "default".
func (e *Engine) accountOptions(opts AccountOptions) AccountOptions {
	if e.cfg.Layout == store.LayoutShared {
		opts.ID = "default"
	}
	return opts
}

// Account returns the account opts name at the CA with directory URL ca
// (trusting caRoot for its API, see Client): the stored one, or a new one
// registered and stored. A new account's key is stored before it is
// registered, and an account key found without an account URL (a
// registration cut short, or the shared layout's client.key, written by
// another program) is looked up at the CA and registered if unknown, so
// that nothing registered is ever lost. Registration fails before
// anything is generated or sent when the CA's terms of service are not
// agreed to or its required external account binding is missing.
func (e *Engine) Account(ctx context.Context, ca, caRoot string, opts AccountOptions) (acme.Account, error) {
	return e.accountSource(ca, caRoot, opts).Account(ctx)
}

type accountKey struct{ ca, root, id string }

// accountSource is the issue.AccountSource of one account: loaded or
// registered once, then kept; replaced when the CA says it does not know
// it.
type accountSource struct {
	e          *Engine
	ca, caRoot string
	opts       AccountOptions

	// loading lets one caller at a time load or register the account
	// (a one-slot semaphore, so that a waiter honours its context); mu
	// guards the fields below, and is never held while the CA is asked,
	// so that settings can change (a reload) while a CA is slow.
	loading chan struct{}
	mu      sync.Mutex
	acct    *acme.Account
	invalid string // the URL the CA said it does not know
}

func (e *Engine) accountSource(ca, caRoot string, opts AccountOptions) *accountSource {
	opts = e.accountOptions(opts)
	k := accountKey{ca, caRoot, opts.id()}
	e.mu.Lock()
	s := e.accounts[k]
	if s == nil {
		s = &accountSource{e: e, ca: ca, caRoot: caRoot, opts: opts, loading: make(chan struct{}, 1)}
		e.accounts[k] = s
		e.mu.Unlock()
		return s
	}
	e.mu.Unlock()
	// Other contacts wanted for the account already loaded (in the shared
	// layout, whose one account every ID names, another email): the
	// next use updates them at the CA.
	s.mu.Lock()
	if opts.Contact != nil && !slices.Equal(opts.Contact, s.opts.Contact) {
		s.opts.Contact = opts.Contact
		if s.acct != nil && !slices.Equal(s.acct.Contact, opts.Contact) {
			s.acct = nil
		}
	}
	s.mu.Unlock()
	return s
}

// Account implements issue.AccountSource.
func (s *accountSource) Account(ctx context.Context) (acme.Account, error) {
	select {
	case s.loading <- struct{}{}:
	case <-ctx.Done():
		return acme.Account{}, ctx.Err()
	}
	defer func() { <-s.loading }()
	s.mu.Lock()
	if s.acct != nil {
		acct := *s.acct
		s.mu.Unlock()
		return acct, nil
	}
	opts, invalid := s.opts, s.invalid
	s.mu.Unlock()
	cl, err := s.e.Client(s.ca, s.caRoot)
	if err != nil {
		return acme.Account{}, err
	}
	acct, err := s.e.loadOrRegister(ctx, cl, opts, invalid)
	if err != nil {
		return acme.Account{}, err
	}
	s.mu.Lock()
	s.acct = &acct
	s.mu.Unlock()
	return acct, nil
}

// Invalid implements issue.AccountSource.
func (s *accountSource) Invalid(ctx context.Context, acct acme.Account, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct, s.invalid = nil, acct.URL
}

// loadOrRegister does the work of Account under the store's lock for the
// account, so that two processes do not register two accounts.
func (e *Engine) loadOrRegister(ctx context.Context, cl *acme.Client, opts AccountOptions, invalid string) (acme.Account, error) {
	ca, id := cl.DirectoryURL, opts.id()
	lock, err := e.certs.AccountLock(ca, id)
	if err != nil {
		return acme.Account{}, err
	}
	unlock, err := e.cfg.Store.Lock(ctx, lock)
	if err != nil {
		return acme.Account{}, fmt.Errorf("engine: locking the account: %w", err)
	}
	defer unlock()
	log := e.log.With("ca", ca, "account", id)

	rec, err := e.certs.LoadAccount(ctx, ca, id)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return e.register(ctx, cl, opts)
	case err != nil:
		return acme.Account{}, err
	}
	if rec.ID == "" {
		rec.ID = id
	}
	if e.isDeactivated(ctx, ca, rec) {
		// Deactivated (DeactivateAccount): never used again; a new
		// account, with a new key, takes its place.
		log.InfoContext(ctx, "the stored account was deactivated; registering a new one", "old", rec.URL)
		if opts.Contact == nil {
			opts.Contact = rec.Contact
		}
		return e.register(ctx, cl, opts)
	}
	key, err := keys.ParsePEM(rec.KeyPEM)
	if err != nil {
		return acme.Account{}, fmt.Errorf("engine: the stored key of account %q at %s: %w", id, ca, err)
	}
	acct := acme.Account{Key: key, URL: rec.URL, Contact: rec.Contact, Status: acme.StatusValid}
	switch {
	case rec.URL != "" && rec.URL == invalid:
		// The CA answered accountDoesNotExist for it (a reset CA): the
		// same key, registered again, is a new account.
		contact := rec.Contact
		if opts.Contact != nil {
			contact = opts.Contact
		}
		na, err := cl.NewAccount(ctx, acme.Account{Key: key, Contact: contact, TermsOfServiceAgreed: true}, eab(opts)...)
		if err != nil {
			return acme.Account{}, fmt.Errorf("engine: the CA no longer knows account %s and registering it again failed: %w", rec.URL, err)
		}
		log.WarnContext(ctx, "the CA no longer knew the account; registered a new one with the same key", "old", rec.URL, "new", na.URL)
		if err := e.saveAccount(ctx, ca, id, na); err != nil {
			return acme.Account{}, err
		}
		return na, nil
	case rec.URL == "":
		// A key that was stored but perhaps never registered, or whose
		// record is damaged: look the account up by its key (RFC 8555
		// §7.3.1) and write the record again.
		if rec.RecordErr != nil {
			log.WarnContext(ctx, "the account record cannot be read; looking the account up by its key", "error", rec.RecordErr)
		}
		found, err := cl.LookupAccount(ctx, key)
		switch {
		case err == nil:
			acct = found
			acct.Key = key
		case acme.IsAccountDoesNotExist(err):
			dir, derr := cl.Directory(ctx)
			if derr != nil {
				return acme.Account{}, derr
			}
			ours := e.cfg.Layout == store.LayoutStandard // we stored it before registering, after the terms were agreed to
			if dir.Meta.TermsOfService != "" && !opts.AgreeTOS && !ours {
				return acme.Account{}, &TermsError{URL: dir.Meta.TermsOfService, Registering: "the stored account key, which the CA does not know"}
			}
			if dir.Meta.ExternalAccountRequired && opts.EABKeyID == "" {
				return acme.Account{}, ErrEABRequired
			}
			contact := rec.Contact
			if opts.Contact != nil {
				contact = opts.Contact
			}
			if acct, err = cl.NewAccount(ctx, acme.Account{Key: key, Contact: contact, TermsOfServiceAgreed: true}, eab(opts)...); err != nil {
				return acme.Account{}, fmt.Errorf("engine: registering the stored account key: %w", err)
			}
			log.InfoContext(ctx, "registered the stored account key", "url", acct.URL)
		default:
			return acme.Account{}, fmt.Errorf("engine: looking up the stored account key: %w", err)
		}
		if err := e.saveAccount(ctx, ca, id, acct); err != nil {
			return acme.Account{}, err
		}
	}
	if opts.Contact != nil && !slices.Equal(opts.Contact, acct.Contact) {
		acct.Contact = opts.Contact
		updated, err := cl.UpdateAccount(ctx, acct)
		if err != nil {
			return acme.Account{}, fmt.Errorf("engine: updating the account's contacts: %w", err)
		}
		updated.Key = key
		acct = updated
		if err := e.saveAccount(ctx, ca, id, acct); err != nil {
			return acme.Account{}, err
		}
		log.InfoContext(ctx, "account contacts updated", "contact", acct.Contact)
	}
	return acct, nil
}

// register makes, stores and registers a new account.
func (e *Engine) register(ctx context.Context, cl *acme.Client, opts AccountOptions) (acme.Account, error) {
	dir, err := cl.Directory(ctx)
	if err != nil {
		return acme.Account{}, err
	}
	if dir.Meta.TermsOfService != "" && !opts.AgreeTOS {
		return acme.Account{}, &TermsError{URL: dir.Meta.TermsOfService, Registering: "a new account"}
	}
	if dir.Meta.ExternalAccountRequired && opts.EABKeyID == "" {
		return acme.Account{}, ErrEABRequired
	}
	kt := opts.KeyType
	if kt == "" {
		kt = keys.EC256
	}
	key, err := keys.Generate(kt)
	if err != nil {
		return acme.Account{}, err
	}
	ca, id := cl.DirectoryURL, opts.id()
	// The key first: if the registration's answer is lost, the next run
	// finds the key and looks the account up.
	if err := e.saveAccount(ctx, ca, id, acme.Account{Key: key, Contact: opts.Contact}); err != nil {
		return acme.Account{}, err
	}
	acct, err := cl.NewAccount(ctx, acme.Account{Key: key, Contact: opts.Contact, TermsOfServiceAgreed: opts.AgreeTOS}, eab(opts)...)
	if err != nil {
		return acme.Account{}, fmt.Errorf("engine: registering an account: %w", err)
	}
	acct.Key = key
	if err := e.saveAccount(ctx, ca, id, acct); err != nil {
		return acme.Account{}, fmt.Errorf("engine: account %s registered but its URL not stored (the next run finds it by its key): %w", acct.URL, err)
	}
	e.log.InfoContext(ctx, "account registered", "ca", ca, "account", id, "url", acct.URL)
	return acct, nil
}

func (e *Engine) saveAccount(ctx context.Context, ca, id string, acct acme.Account) error {
	keyPEM, err := keys.MarshalPEM(acct.Key)
	if err != nil {
		return err
	}
	return e.certs.SaveAccount(ctx, ca, id, store.AccountRecord{URL: acct.URL, KeyPEM: keyPEM, Contact: acct.Contact})
}

func eab(opts AccountOptions) []acme.AccountOption {
	if opts.EABKeyID == "" {
		return nil
	}
	return []acme.AccountOption{acme.WithExternalAccountBinding(opts.EABKeyID, opts.EABHMAC)}
}

// TermsError says that registering needs the CA's terms of service agreed
// to (AccountOptions.AgreeTOS).
type TermsError struct {
	// URL of the terms (RFC 8555 §7.1.1 meta.termsOfService).
	URL string
	// Registering says what was to be registered.
	Registering string
}

func (e *TermsError) Error() string {
	return fmt.Sprintf("registering %s needs the CA's terms of service (%s) agreed to", e.Registering, e.URL)
}

// ErrEABRequired says that the CA registers only accounts bound to one it
// knows by other means (RFC 8555 §7.3.4) and no binding was given.
var ErrEABRequired = errors.New("this CA requires external account binding (a key ID and an HMAC key from the CA)")

// VerifyAccount is Account followed by a request for the account at the
// CA (RFC 8555 §7.3.3 POST-as-GET), returning it as the CA knows it. An
// account the CA no longer knows (accountDoesNotExist, as after a CA
// reset) is registered anew with the same key, as an order would do.
func (e *Engine) VerifyAccount(ctx context.Context, ca, caRoot string, opts AccountOptions) (acme.Account, error) {
	src := e.accountSource(ca, caRoot, opts)
	cl, err := e.Client(ca, caRoot)
	if err != nil {
		return acme.Account{}, err
	}
	for attempt := 0; ; attempt++ {
		acct, err := src.Account(ctx)
		if err != nil {
			return acme.Account{}, err
		}
		got, err := cl.GetAccount(ctx, acct)
		if err != nil && acme.IsAccountDoesNotExist(err) && attempt == 0 {
			src.Invalid(ctx, acct, err)
			continue
		}
		if err != nil {
			return acme.Account{}, err
		}
		got.Key = acct.Key
		return got, nil
	}
}

// RolloverAccount replaces the key of the account opts name at ca with
// newKey (RFC 8555 §7.3.5) and stores it. The new key is written to a
// file of its own (mode 0600, in the directory manager.Config.RescueDir
// names, else os.TempDir()) before the CA is asked, and removed once the
// store holds it: if the store then refuses it, the error names that
// file, so the key the CA now knows is never lost.
func (e *Engine) RolloverAccount(ctx context.Context, ca, caRoot string, opts AccountOptions, newKey crypto.Signer) (acme.Account, error) {
	opts = e.accountOptions(opts)
	src := e.accountSource(ca, caRoot, opts)
	cl, err := e.Client(ca, caRoot)
	if err != nil {
		return acme.Account{}, err
	}
	acct, err := src.Account(ctx)
	if err != nil {
		return acme.Account{}, err
	}
	keyPEM, err := keys.MarshalPEM(newKey)
	if err != nil {
		return acme.Account{}, err
	}
	dir := e.cfg.Manager.RescueDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "certkeeper-account-key-*.pem")
	if err != nil {
		return acme.Account{}, fmt.Errorf("engine: keeping the new account key safe before the rollover: %w", err)
	}
	_, werr := f.Write(keyPEM)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return acme.Account{}, fmt.Errorf("engine: keeping the new account key safe before the rollover: %w", err)
	}
	rolled, err := cl.ChangeKey(ctx, acct, newKey)
	if err != nil {
		var p *acme.Problem
		if errors.As(err, &p) { // the CA answered: the old key stands
			os.Remove(f.Name())
			return acme.Account{}, err
		}
		// No answer: the CA may have changed the key all the same.
		return acme.Account{}, fmt.Errorf("%w; the CA may know the account by the new key now, which is kept in %s", err, f.Name())
	}
	rolled.Key = newKey
	src.mu.Lock()
	src.acct = &rolled // what the CA now knows, whatever the store says
	src.mu.Unlock()
	if err := e.saveAccount(ctx, ca, opts.id(), rolled); err != nil {
		return rolled, fmt.Errorf("engine: the CA now knows the account by its new key, which the store refused (%w); the key is in %s", err, f.Name())
	}
	os.Remove(f.Name())
	return rolled, nil
}
