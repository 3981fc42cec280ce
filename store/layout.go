package store

import "fmt"

// Layout says how Certs arranges certificates and accounts in a Store.
type Layout int

const (
	// LayoutStandard, the default, keeps one directory per CA and per
	// certificate, and in it one directory per version of the
	// certificate:
	//
	//	certificates/<ca>/<name>/versions/<n>/key.pem       private key, if stored
	//	certificates/<ca>/<name>/versions/<n>/cert.pem      chain, leaf first
	//	certificates/<ca>/<name>/versions/<n>/combined.pem  key (if stored), then chain
	//	certificates/<ca>/<name>/versions/<n>/meta.json     identifiers, URLs, times
	//	certificates/<ca>/<name>/live          link to versions/<n> (Linker stores)
	//	certificates/<ca>/<name>/current       "<n>", the pointer in other stores
	//	certificates/<ca>/<name>/key.pem       link to live/key.pem (and so
	//	certificates/<ca>/<name>/cert.pem      for cert.pem, combined.pem and
	//	certificates/<ca>/<name>/combined.pem  meta.json), in Linker stores
	//	                                       (no key.pem link if live has none)
	//	certificates/<ca>/<name>/lineage.json  how it is obtained (Lineage)
	//	certificates/<ca>/<name>/revoked/<serial>.json  a Revocation
	//	accounts/<ca>/<id>/account.key         account key
	//	accounts/<ca>/<id>/account.json        account URL and contacts
	//	accounts/<ca>/<id>/deactivated         written when it is deactivated
	//	                                       (AccountDeactivatedKey)
	//	manager/<ca>/<name>.json               renewal state (StateKey)
	//	manager/<ca>/<name>.orders/<h>         an order whose URL the state
	//	                                       could not take (OrderRecord)
	//	certificates/_index/<k>                the index (see Certs.Index), in
	//	                                       Appender stores: 16 shards 0…f
	//	certificates/_index/complete           written once the index is whole
	//
	// where <ca> is CADirName of the directory URL, <name> is EncodeName
	// of the certificate name, <id> is the account ID or "default",
	// <h> is made from the order's URL, and <n> numbers the versions
	// from 1. A save writes a new version
	// directory, then switches the pointer in one atomic step, so that a
	// reader never gets the key of one version with the chain of
	// another (a certificate that a version holds already is not written
	// again: see Certs.SaveCertificate); see the package documentation
	// for readers outside certkeeper. A certificate saved before versions were kept has
	// key.pem, cert.pem and meta.json as plain files and no pointer; it
	// loads as it is and becomes version 1 at the next save.
	//
	// The store locks are the same in both layouts: Certs takes
	// "certkeeper/certificate/<ca>/<name>" ("shared" for <ca> in
	// LayoutShared), "certkeeper/accounts/<ca>/<id>" (or
	// "certkeeper/account/shared"), "certkeeper/index" and
	// "certkeeper/migrate"; programs sharing the store take the ones
	// ObtainLock, LineageLock, AccountLock and ListenLock name.
	LayoutStandard Layout = iota

	// LayoutShared is the layout that txacme and txsni read and write, so
	// that other programs can share the directory:
	//
	//	<name>.pem    private key, then the chain, leaf first
	//	client.key    account key
	//
	// and certkeeper's own records in a directory those programs do not
	// read:
	//
	//	certkeeper/versions/<name>/<n>.pem     versions kept (as <name>.pem)
	//	certkeeper/lineage/<name>.json         how it is obtained (Lineage)
	//	certkeeper/revoked/<name>/<serial>.json  a Revocation
	//	certkeeper/manager/<name>.json         renewal state (StateKey)
	//	certkeeper/manager/<name>.orders/<h>   an order (OrderRecord)
	//	certkeeper/accounts/deactivated        the account was deactivated
	//
	// There is no CA component: use one store (one directory) per CA.
	// The ca arguments of Certs methods are ignored, there is one
	// account (ID "" or "default"), and only the PEM data is kept:
	// loading fills in Identifiers from the certificate and ObtainedAt
	// from the file's modification time, and an account's URL and
	// contacts are not stored (look the account up by key with
	// onlyReturnExisting, RFC 8555 §7.3.1). An empty <name>.pem is a
	// request for the name to be issued; it loads as a CertRecord with no
	// chain. Tools that look names up by SNI will not find wildcard
	// files, which are named after EncodeName's "_wildcard_" form.
	LayoutShared
)

// String returns "standard" or "shared".
func (l Layout) String() string {
	switch l {
	case LayoutStandard:
		return "standard"
	case LayoutShared:
		return "shared"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}
