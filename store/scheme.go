package store

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
)

// scheme is a Layout made code: it owns every key, key prefix and lock
// name that Certs reads or writes, and the steps that differ between
// layouts (LayoutShared keeps only PEM files where LayoutStandard keeps
// versions, records and an index). Certs asks its scheme (Certs.scheme)
// and never looks at its Layout itself. Arguments ca and name are a CA's
// directory URL and a certificate's name as Certs's public methods take
// them; caDir and enc the components entryNames makes of them.
//
// standardScheme and sharedScheme are the two implementations, each
// embedding baseScheme (the Certs they serve); what the layouts share
// (the lock names given to other packages, the renewal state keys of
// older versions) is in this file.
type scheme interface {
	// Certificates.
	entryNames(ca, name string) (caDir, enc string, err error)
	// saveCertificate stores res, whose chain the caller parsed
	// (leaf, its first certificate) when it checked the pair.
	saveCertificate(ctx context.Context, res CertRecord, leaf *x509.Certificate) error
	loadCertificate(ctx context.Context, ca, name string) (CertRecord, error)
	listCertificates(ctx context.Context, ca string) ([]CertRecord, error)
	deleteCertificate(ctx context.Context, ca, name string) error
	versions(ctx context.Context, ca, name string) ([]Version, error)
	restore(ctx context.Context, ca, name string, id int) error
	paths(p pather, ca, name string) (CertPaths, error)
	clearLeftovers(ctx context.Context, caDir, enc string) error
	// indexed reports whether the layout keeps the index (see Index).
	indexed() bool

	// A certificate's other records.
	lineageKey(ca, name string) (string, error)
	// lineageKeys lists the keys that may hold lineage records of ca's
	// certificates ("" for every CA); lineageOf says whether one read
	// from them is ca's.
	lineageKeys(ctx context.Context, ca string) ([]string, error)
	lineageOf(ca string, l *Lineage) bool
	revokedDir(ca, name string) (string, error)
	stateKey(ca, name string) (string, error)
	// statePrefixes are where ListStates looks for ca's states ("" for
	// every CA), newest place first; stateEntry reads the key k found
	// under prefix.
	statePrefixes(ca string) ([]string, error)
	stateEntry(prefix, k, ca string) (caDir, name string, ok bool)
	whatChanged(key string) Change

	// Accounts.
	saveAccount(ctx context.Context, ca, id string, rec AccountRecord) error
	loadAccount(ctx context.Context, ca, id string) (AccountRecord, error)
	listAccounts(ctx context.Context, ca string) ([]AccountRecord, error)
	accountDeactivatedKey(ca, id string) (string, error)
	// checkAccount checks the CA and the account ID ("" is "default")
	// of an account before anything is written.
	checkAccount(ca, id string) error

	// migrate moves what older versions of certkeeper stored elsewhere
	// (see Certs.Migrate).
	migrate(ctx context.Context, rep *MigrationReport) error
}

// scheme returns the scheme of c's Layout: the one place that reads it.
func (c *Certs) scheme() scheme {
	switch c.Layout {
	case LayoutShared:
		return sharedScheme{baseScheme{c}}
	default:
		return standardScheme{baseScheme{c}}
	}
}

// indexes reports whether c keeps the index: in a layout that has one,
// in a Store that can append.
func (c *Certs) indexes() bool {
	_, ok := c.Store.(Appender)
	return ok && c.scheme().indexed()
}

// pather is a Store that keeps files (Dir).
type pather interface {
	Path(key string) (string, error)
}

// The top-level directories and files of LayoutStandard.
const (
	certsDir    = "certificates" // certificates/<ca>/<name>/…
	accountsDir = "accounts"     // accounts/<ca>/<id>/…
	defaultID   = "default"      // the account ID "" stands for
	// legacyStateDir is where managers kept their renewal state in both
	// layouts before Certs owned the key: manager/<host-port>/<name>.json.
	// LayoutStandard still keeps it under manager/, with CADirName.
	legacyStateDir = "manager"
)

// Names inside a certificate's directory in LayoutStandard.
const (
	versionsDir  = "versions"     // versions/<n>/ holds one version's files
	liveLink     = "live"         // link to versions/<n> in a Linker store
	pointerKey   = "current"      // "<n>\n", the pointer in other stores
	keyFile      = "key.pem"      // private key
	certFile     = "cert.pem"     // chain, leaf first
	combinedFile = "combined.pem" // key (if the version has one), then chain
	metaFile     = "meta.json"    // certMeta
	revokedDir   = "revoked"      // revoked/<serial>.json, a Revocation
	lineageFile  = "lineage.json" // Lineage
)

// The files of an account's directory in LayoutStandard.
const (
	accountKeyFile  = "account.key"
	accountMetaFile = "account.json"
	// deactivatedFile records that the account was deactivated
	// (Certs.AccountDeactivatedKey).
	deactivatedFile = "deactivated"
)

// The keys of LayoutShared besides "<name>.pem".
const (
	sharedKey = "client.key" // the account key
	// stateRoot is the directory of the shared layout that holds
	// certkeeper's own records, out of the way of the programs that read
	// the "<name>.pem" files beside it.
	stateRoot = "certkeeper"
	// sharedLineageDir holds certkeeper/lineage/<name>.json.
	sharedLineageDir = stateRoot + "/lineage"
	// sharedDeactivated records that the one account was deactivated.
	sharedDeactivated = stateRoot + "/accounts/" + deactivatedFile
)

// Store locks that Certs takes, in both layouts.
const (
	// migrationLock is the store lock Migrate holds.
	migrationLock = "certkeeper/migrate"
	// certLockPrefix + "<caDir>/<enc>" serialises the writers of one
	// certificate (certLock).
	certLockPrefix = "certkeeper/certificate/"
	// accountLockPrefix + "accounts/<ca>/<id>" (sharedAccountLock in
	// LayoutShared) serialises the writers of one account's keys.
	accountLockPrefix = "certkeeper/"
	sharedAccountLock = "certkeeper/account/shared"
	// indexLock serialises the appends and rewrites of the index.
	indexLock = "certkeeper/index"
)

// baseScheme is what both layouts share.
type baseScheme struct{ c *Certs }

// legacyStateKey is where an older certkeeper kept the state of name
// from ca: manager/<host-port>/<name>.json in both layouts.
func legacyStateKey(ca, name string) (string, error) {
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	old, err := legacyCADirName(ca)
	if err != nil {
		return "", err
	}
	return legacyStateDir + "/" + old + "/" + enc + ".json", nil
}

// caNameLock is the lock name "<what>/<ca>/<name>" of the lock names
// Certs gives to other packages: the same in both layouts, so that every
// certkeeper sharing a store takes the same lock.
func caNameLock(what, ca, name string) (string, error) {
	caDir, err := CADirName(ca)
	if err != nil {
		return "", err
	}
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	return what + "/" + caDir + "/" + enc, nil
}

// ObtainLock returns the name of the store lock that a program holds
// while it orders and saves the certificate called name from the CA with
// directory URL ca, so that two programs sharing the store do not order
// it both: "obtain/<ca>/<name>", with <ca> from CADirName and <name> from
// EncodeName, in both layouts. The error wraps ErrInvalidKey.
func (c *Certs) ObtainLock(ca, name string) (string, error) {
	return caNameLock("obtain", ca, name)
}

// LineageLock returns the name of the store lock held around reading,
// checking and writing the lineage record of the certificate called name
// from the CA with directory URL ca: "lineage/<ca>/<name>" (CADirName,
// EncodeName) in both layouts. The error wraps ErrInvalidKey.
func (c *Certs) LineageLock(ca, name string) (string, error) {
	return caNameLock("lineage", ca, name)
}

// AccountLock returns the name of the store lock held around loading or
// registering account id ("" means "default") at the CA with directory
// URL ca, so that two programs do not register two accounts:
// "account/<ca>/<id>" with <ca> from CADirName, in both layouts. An id
// that is not one key component gives an error wrapping ErrInvalidKey.
func (c *Certs) AccountLock(ca, id string) (string, error) {
	if id == "" {
		id = defaultID
	}
	if err := checkIDComponent(id); err != nil {
		return "", err
	}
	caDir, err := CADirName(ca)
	if err != nil {
		return "", err
	}
	return "account/" + caDir + "/" + id, nil
}

// ListenLock returns the name of the store lock held while listening on
// addr (a host:port) to answer challenges, so that programs sharing the
// store and a port take turns: "listen/<addr>".
func (c *Certs) ListenLock(addr string) string {
	return "listen/" + addr
}

// AccountDeactivatedKey returns the key that records that account id (""
// means "default") at the CA with directory URL ca was deactivated (RFC
// 8555 §7.3.6): accounts/<ca>/<id>/deactivated in LayoutStandard, and
// certkeeper/accounts/deactivated in LayoutShared, whose one account
// (client.key) serves every CA. Its contents are the caller's. The error
// wraps ErrInvalidKey.
func (c *Certs) AccountDeactivatedKey(ca, id string) (string, error) {
	return c.scheme().accountDeactivatedKey(ca, id)
}

// checkIDComponent checks that an account ID is one key component.
func checkIDComponent(id string) error {
	if err := ValidateKey(id); err != nil || strings.Contains(id, "/") {
		return fmt.Errorf("%w: account ID %q must be one key component", ErrInvalidKey, id)
	}
	return nil
}
