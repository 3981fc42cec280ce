// Package store keeps certificates, private keys and accounts.
//
// A Store is a small key/value interface with a lock. This package has
// two backends: Dir, a directory tree that other programs can read (files
// 0600, directories 0700, atomic durable writes, lock files, symbolic
// links), and Memory, for tests. A distributed backend lives outside the
// core module. See the Store doc comment for the contract every backend
// honours, and ValidateKey for what a key may look like. Optional
// interfaces add what some backends can do: Linker (atomic symbolic
// links), TryLocker (a lock that does not wait), WatchedLocker (a lock
// whose loss its holder is told of), FencedLocker, Watcher.
//
// Certs is the typed layer the rest of certkeeper uses: it saves and
// loads a CertRecord (a certificate chain with its key and where it came
// from), an AccountRecord, a Lineage and a manager's renewal state in one
// of two layouts, LayoutStandard (one directory per CA and per
// certificate, one directory per version of a certificate) or
// LayoutShared (txacme's "<name>.pem" and "client.key" files, for sharing
// one directory with other programs, with certkeeper's own records under
// "certkeeper/"). Certs owns every key: other packages ask it where
// things are (StateKey, Paths, WhatChanged). CADirName names a CA by its
// full directory URL; Certs.Migrate moves stores written when it was the
// host and port only.
//
// # Reading a certificate while it is renewed
//
// In LayoutStandard a save writes a new directory versions/<n> and then
// switches one pointer to it in one atomic step: the link "live" in a
// Linker store (Dir), the key "current" in others. Certs reads the
// pointer once, then that version's files, so LoadCertificate never
// returns the key of one version with the chain of another. A program
// outside certkeeper reading a Dir must do the same: read combined.pem
// (key and chain in one file, written atomically; the chain only for a
// certificate stored without its key, ordered with the caller's CSR, which
// has no key.pem), or resolve
// certificates/<ca>/<name>/live once and read key.pem and cert.pem from
// the directory it names (resolving again if that directory was pruned
// meanwhile, which takes KeepVersions more renewals). Reading the
// top-level key.pem and then cert.pem, which are links through live, can
// straddle a renewal. In LayoutShared the pair is one file, "<name>.pem",
// replaced atomically.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrCorrupt is wrapped by the error for a record of certkeeper's (a
// lineage.json, an account.json) that exists but cannot be parsed or is
// not valid, such as one cut short by a full disk. Such a record may be
// replaced: written again from what the user asks or what the CA knows.
var ErrCorrupt = errors.New("corrupt record")

// Store is a key/value store for certificate material.
//
// Keys are slash-separated relative paths such as
// "certificates/acme.example.com/www.example.com/cert.pem". Every
// component is validated by ValidateKey; a backend MUST reject invalid
// keys with an error wrapping ErrInvalidKey and MUST NOT touch anything
// outside its own namespace.
//
// Contract:
//   - Get, Stat and Delete of a missing key return an error for which
//     errors.Is(err, fs.ErrNotExist) is true.
//   - Put is atomic: a concurrent or later Get sees the old value or the
//     new one, never a mix, even after a crash.
//   - Operations on different keys are independent; concurrent Puts to
//     one key end with one of the values written.
//   - Every method MUST be safe for concurrent use and honour ctx.
//   - Lock gives mutual exclusion per name among every user of the same
//     store (other processes and, for distributed backends, other
//     machines). It blocks until the lock is held or ctx is done. A
//     backend SHOULD release locks whose holder died (lease or staleness
//     timeout). Locks are advisory: Put does not check them.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	// List returns, sorted, every key that begins with prefix ("" for
	// all), however deep; a prefix ending in "/" selects one directory's
	// subtree.
	List(ctx context.Context, prefix string) ([]string, error)
	Stat(ctx context.Context, key string) (KeyInfo, error)
	// Lock acquires the named lock and returns the function that
	// releases it.
	Lock(ctx context.Context, name string) (unlock func() error, err error)
}

// KeyInfo describes a stored value.
type KeyInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}
