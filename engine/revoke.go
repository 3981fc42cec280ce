package engine

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// RevokeRequest asks Revoke to revoke one certificate (RFC 8555 §7.6).
// Exactly one of Name and Certificate says which.
type RevokeRequest struct {
	// Name is a certificate the store keeps, under its name or as it was
	// ordered (see FindLineage): the version current when Revoke is
	// called is revoked, at the CA its lineage record names.
	Name string
	// Certificate is a certificate to revoke instead of a stored one (a
	// leaf, from a file). If the store keeps it (LineageOf: a version of
	// one of its certificates, matched by names and serial number), the
	// revocation is sent to that certificate's CA and recorded, under
	// that certificate's lock as for Name; otherwise it is sent to CA,
	// else DefaultCA, without a lock, and recorded nowhere.
	Certificate *x509.Certificate
	// CA, a directory URL, limits the certificates looked at to those of
	// this CA; "" looks at every CA. It must be set (or DefaultCA) for a
	// Certificate the store does not keep.
	CA string
	// DefaultCA is the CA of the certificates the store keeps without
	// one (store.LayoutShared), and where a Certificate the store does
	// not keep is sent when CA is "".
	DefaultCA string
	// CARoot is the PEM file of the roots to trust for the CA's API
	// (see Client). "" means the roots the certificate's lineage record
	// names, else the system's.
	CARoot string
	// Reason is the CRL reason code sent (RFC 5280 §5.3.1; RFC 8555 §7.6
	// lets a client send 0, 1, 3, 4 and 5, and a CA may refuse others
	// with badRevocationReason): 0, unspecified, is the zero value. A
	// code RFC 5280 does not define (below 0, 7, above 10) is refused
	// before anything is sent.
	Reason acme.RevocationReason
	// WithCertKey signs the request with the certificate's own key, with
	// the key embedded as a JWK (RFC 8555 §7.6): no account is needed,
	// as after a key compromise or when the account is lost. False signs
	// it with an account (Account).
	WithCertKey bool
	// CertKey is the certificate's private key, for WithCertKey; nil
	// means the key the store keeps with a stored certificate (Name). It
	// must match the certificate's public key (ErrCertKeyMismatch); given
	// without WithCertKey, it is refused (*LocalError) rather than ignored.
	CertKey crypto.Signer
	// Account is the ID of the stored account that signs the request
	// unless WithCertKey: one the store has at the certificate's CA (it
	// may be any account authorized for all the certificate's names).
	// "" means the account that obtained the certificate, as its lineage
	// record says, else "default". In store.LayoutShared, which holds one
	// account, it is always "default". Revoke registers no account.
	Account string
}

// RevokeResult describes the certificate Revoke revoked.
type RevokeResult struct {
	// Name is the name the store keeps the certificate under, or, for a
	// Certificate it does not keep, its common name (else its first
	// name), in lower case.
	Name string
	// CA is the directory URL the revocation was sent to.
	CA string
	// Identifiers are the certificate's names (DNS names in lower case,
	// then IP addresses; else its common name).
	Identifiers []string
	// Serial is the certificate's serial number in lower-case
	// hexadecimal, without leading zeros (as store.Revocation.Serial).
	Serial string
	// Certificate is the leaf revoked.
	Certificate *x509.Certificate
	// Reason is the reason code sent.
	Reason acme.RevocationReason
	// At is when the revocation was made (the engine's clock, see
	// manager.Config.Clock), as it is recorded.
	At time.Time
	// Stored reports whether the store keeps the certificate; only then
	// is the revocation recorded.
	Stored bool
	// AlreadyRevoked reports that the CA answered alreadyRevoked (RFC
	// 8555 §7.6): it had revoked the certificate before (through a copy
	// of the store, another program, or an earlier run whose store could
	// not record it), or the store records the certificate revoked already
	// (then nothing is sent, nor written, and At and Reason are the
	// record's; a request for another reason than the recorded one is sent
	// all the same). Revoke counts it as a success, since what was asked
	// for holds.
	AlreadyRevoked bool
	// Recorded reports whether the store recorded the revocation now:
	// false when it does not keep the certificate, or when the CA had
	// already revoked it and the store recorded that before (the first
	// record, with its time and reason, is kept).
	Recorded bool
	// CurrentSerial is the serial number (as Serial) of the store's
	// current version of the certificate when that is not the one
	// revoked, "" otherwise: a renewal stored it while Revoke waited for
	// the certificate's lock (Revoke revokes the version that was
	// current when it was called), or Certificate is an earlier version.
	// That version is not revoked (the store records a revocation by
	// serial number, so it stays valid, listed and served), unless it has
	// the revoked one's key and Reason is keyCompromise: see
	// SameKeyRevoked.
	CurrentSerial string
	// SameKeyRevoked reports that the version CurrentSerial names, which
	// has the revoked certificate's key (a renewal with Lineage.ReuseKey
	// that ordered before this revocation), was revoked too and recorded,
	// for keyCompromise (RFC 5280 §5.3.1): every certificate for a key
	// compromised is, and a daemon renews it at once with a new key.
	SameKeyRevoked bool
}

// ErrNoCertificateKey is Revoke's error (wrapped) when WithCertKey is
// set without CertKey and the store keeps no private key for the
// certificate: nothing was sent.
var ErrNoCertificateKey = errors.New("engine: no private key for the certificate")

// ErrCertKeyMismatch is Revoke's error (wrapped) when the key to sign
// with (WithCertKey) is not the certificate's: nothing was sent, since
// the CA would refuse it (RFC 8555 §7.6).
var ErrCertKeyMismatch = errors.New("engine: the private key is not the certificate's")

// NoAccountError is Revoke's error when the store has no account to sign
// the request with (and WithCertKey is not set): nothing was sent. It
// matches fs.ErrNotExist (errors.Is).
type NoAccountError struct {
	// CA is the directory URL, ID the account's name in the store.
	CA string
	ID string
	// ObtainedBy is the name of the certificate when ID is the account
	// its lineage record says obtained it (RevokeRequest.Account was
	// ""); "" when the request named the account.
	ObtainedBy string
	// Err is the store's error.
	Err error
}

func (e *NoAccountError) Error() string {
	if e.ObtainedBy != "" {
		return fmt.Sprintf("the store has no account %s at %s, the account that obtained %s: %v", e.ID, e.CA, e.ObtainedBy, e.Err)
	}
	return fmt.Sprintf("the store has no account %s at %s: %v", e.ID, e.CA, e.Err)
}

// Unwrap returns Err.
func (e *NoAccountError) Unwrap() error { return e.Err }

// RevocationRecordError is Revoke's error when the store cannot record
// the revocation of a certificate it keeps (store.Certs.MarkRevoked).
// Sent says whether the request had been sent: false when the store was
// found unable to record it beforehand (store.Certs.CheckMarkRevoked),
// and nothing was sent; true when the CA revoked the certificate and the
// store then failed, in which case Revoke returns its RevokeResult too.
// A revocation the store does not record leaves the certificate listed
// as valid, and renewals keep it, until a later Revoke (which the CA
// answers alreadyRevoked) records it.
type RevocationRecordError struct {
	// Name and CA name the certificate in the store.
	Name string
	CA   string
	Sent bool
	// Err is the store's error.
	Err error
}

func (e *RevocationRecordError) Error() string {
	if e.Sent {
		return fmt.Sprintf("the CA revoked %s, but the store could not record it: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("the store cannot record a revocation of %s, so nothing was sent to the CA: %v", e.Name, e.Err)
}

// Unwrap returns Err.
func (e *RevocationRecordError) Unwrap() error { return e.Err }

// Revoke revokes a certificate at its CA (RFC 8555 §7.6) and records the
// revocation in the store if the store keeps it, so that List shows it
// revoked and Renew leaves it (store.Certs.MarkRevoked); the certificate
// itself is kept. The CA's revocation cannot be undone, so everything
// that can be checked locally is checked before anything is sent: the
// certificate, the reason, the key or account to sign with, and that the
// store can record it (a *RevocationRecordError with Sent false). An
// alreadyRevoked answer (acme.IsAlreadyRevoked) is a success
// (RevokeResult.AlreadyRevoked), recorded unless the store has a record
// already.
//
// For a certificate the store keeps, the check of the store's record, the
// request to the CA and the record are one step under the store lock
// that every renewal of that certificate holds around its order and save
// (store.Certs.ObtainLock; the manager's, in this process or another
// sharing the store, a daemon's or "certkeeper renew"'s). Revoke waits
// for it as long as ctx lets it, saying so at Info after a second
// ("waiting for the store's lock", with the lock's name), and a context
// that ends meanwhile gives ctx's error with nothing sent. So of two
// Revokes of one certificate at once, the second finds the first's record
// and answers AlreadyRevoked without sending anything; and a renewal
// stores no new version between the check and the record. Revoke revokes
// the version that was current when it was called: if a renewal in
// progress stored another while Revoke waited, the one asked for is
// revoked all the same (it is no longer served), and
// RevokeResult.CurrentSerial names the new one, which is not revoked (the
// store keys a revocation on the serial number, so it stays valid and a
// daemon does not renew it again), and a line at Info says so; but when
// the revocation is for keyCompromise and the new version has the same
// key, as Lineage.ReuseKey makes it, that one is revoked and recorded too
// (RevokeResult.SameKeyRevoked; a daemon renews it with a new key). A record
// found before the lock answers without taking it, so that a read-only
// store answers too. A Certificate the store does not keep takes no lock:
// there is nothing to record, and the CA answers a second request
// alreadyRevoked.
//
// Errors: for Name, FindLineage's (*NoCertificateError,
// *AmbiguousNameError), or one wrapping fs.ErrNotExist when the store has
// its record but not the certificate; a *LocalError for a bad request or
// Reason; ErrNoCertificateKey, ErrCertKeyMismatch; a *NoAccountError,
// or ErrAccountDeactivated (see StoredAccount); the CA's refusal (an
// *acme.Problem, e.g. unauthorized for an account not authorized for the
// names); a *RevocationRecordError; the store's lock's error (ctx's when
// it ended while Revoke waited), with nothing sent. Revoke registers no
// account and does not create the store's certificate.
func (e *Engine) Revoke(ctx context.Context, req RevokeRequest) (RevokeResult, error) {
	if (req.Name == "") == (req.Certificate == nil) {
		return RevokeResult{}, &LocalError{What: "revoke", Err: errors.New("give either the name of a stored certificate or a certificate, not both")}
	}
	if req.CertKey != nil && !req.WithCertKey {
		// Without WithCertKey the account key signs: a CertKey would be
		// ignored.
		return RevokeResult{}, &LocalError{What: "revoke", Err: errors.New("a certificate key is given but WithCertKey is not set: the account key would sign")}
	}
	if r := req.Reason; r < 0 || r == 7 || r > 10 {
		return RevokeResult{}, &LocalError{What: "reason", Err: fmt.Errorf("%d is not a CRL reason code (RFC 5280 §5.3.1)", r)}
	}
	var (
		lin      *store.Lineage
		leaf     = req.Certificate
		storeKey []byte
		cur      *x509.Certificate // the store's current version, under the lock
	)
	if req.Name != "" {
		l, err := e.FindLineage(ctx, req.Name, req.CA, req.DefaultCA)
		if err != nil {
			return RevokeResult{}, err
		}
		lin = &l
		r, err := e.certs.LoadCertificate(ctx, l.CA, l.Name)
		if err == nil && len(r.ChainPEM) == 0 {
			err = fs.ErrNotExist
		}
		if err != nil {
			return RevokeResult{}, fmt.Errorf("the store holds no certificate %s from %s (never obtained, or deleted): %w", l.Name, l.CA, err)
		}
		chain, err := keys.ParseCertificates(r.ChainPEM)
		if err != nil {
			return RevokeResult{}, fmt.Errorf("engine: the stored certificate %s from %s: %w", l.Name, l.CA, err)
		}
		leaf, storeKey = chain[0], r.KeyPEM
		if recordAnswers(r.Revoked, leaf, req.Reason) {
			// The store records it revoked, which it does only once the
			// CA said so: nothing to send, nothing to write, no lock (a
			// store that cannot be written, read-only, answers too).
			return e.recordedRevocation(ctx, &l, leaf, r.Revoked, nil), nil
		}
	} else {
		l, ok, err := e.LineageOf(ctx, leaf, req.CA, req.DefaultCA)
		if err != nil {
			e.log.WarnContext(ctx, "some of the store could not be read while looking for this certificate's record", "error", err)
		}
		if ok {
			lin = &l
			if rv, err := e.certs.LoadRevocation(ctx, l.CA, l.Name, leaf.SerialNumber.Text(16)); err == nil && recordAnswers(rv, leaf, req.Reason) {
				return e.recordedRevocation(ctx, &l, leaf, rv, nil), nil
			}
		}
	}
	res := RevokeResult{Certificate: leaf, Reason: req.Reason, Serial: leaf.SerialNumber.Text(16)}
	res.Name, res.Identifiers = certName(leaf), leafNames(leaf)
	ca, caRoot := req.CA, req.CARoot
	if ca == "" {
		ca = req.DefaultCA
	}
	if lin != nil {
		res.Name, res.Stored, ca = lin.Name, true, lin.CA
		if caRoot == "" {
			caRoot = lin.CARoot
		}
	}
	if ca == "" {
		return RevokeResult{}, &LocalError{What: "revoke", Err: errors.New("no CA: the store does not keep this certificate; name its CA")}
	}
	res.CA = ca

	// What signs the request, before anything is sent.
	var certKey crypto.Signer
	if req.WithCertKey {
		var err error
		if certKey, err = revokeKey(req.CertKey, storeKey, leaf); err != nil {
			return RevokeResult{}, err
		}
	}
	if lin != nil {
		// The CA's revocation cannot be undone: check first that the
		// store can record it, or List would go on calling it valid and
		// Renew would keep it.
		if err := e.certs.CheckMarkRevoked(ctx, lin.CA, lin.Name); err != nil {
			return RevokeResult{}, &RevocationRecordError{Name: lin.Name, CA: lin.CA, Err: err}
		}
		// Check, send and record as one step under the lock renewals
		// of the certificate hold: another revoke of it waits, then
		// finds this one's record; a renewal does not store a new
		// version meanwhile.
		unlock, err := e.lockRevoke(ctx, lin)
		if err != nil {
			return RevokeResult{}, err
		}
		defer unlock()
		var rv *store.Revocation
		cur, rv = e.storedNow(ctx, lin, leaf)
		if recordAnswers(rv, leaf, req.Reason) {
			return e.recordedRevocation(ctx, lin, leaf, rv, cur), nil
		}
		res.CurrentSerial = currentSerial(cur, leaf)
	}
	cl, err := e.Client(ca, caRoot)
	if err != nil {
		return RevokeResult{}, err
	}
	var sendErr error
	if req.WithCertKey {
		sendErr = cl.RevokeCertificateWithKey(ctx, certKey, leaf.Raw, req.Reason)
	} else {
		acct, err := e.revokeAccount(ctx, ca, caRoot, req.Account, lin)
		if err != nil {
			return RevokeResult{}, err
		}
		sendErr = cl.RevokeCertificate(ctx, acct, leaf.Raw, req.Reason)
	}
	// alreadyRevoked (RFC 8555 §7.6): what was asked for holds, and the
	// store may not know it yet.
	res.AlreadyRevoked = acme.IsAlreadyRevoked(sendErr)
	if sendErr != nil && !res.AlreadyRevoked {
		return RevokeResult{}, sendErr
	}
	res.At = e.now()
	e.log.InfoContext(ctx, "certificate revoked", "name", res.Name, "ca", ca, "serial", res.Serial,
		"reason", int(req.Reason), "already_revoked", res.AlreadyRevoked, "stored", res.Stored)
	if lin == nil {
		return res, nil
	}
	e.sayCurrent(ctx, lin, res, cur, true)
	// One the CA had revoked already keeps the record it may have.
	if res.AlreadyRevoked {
		res.Recorded, err = e.certs.MarkRevokedOnce(ctx, lin.CA, lin.Name, res.Serial, res.At, int(req.Reason))
	} else {
		err = e.certs.MarkRevoked(ctx, lin.CA, lin.Name, res.Serial, res.At, int(req.Reason))
		res.Recorded = err == nil
	}
	if err != nil {
		return res, &RevocationRecordError{Name: lin.Name, CA: lin.CA, Sent: true, Err: err}
	}
	if req.Reason == acme.ReasonKeyCompromise && sameKey(cur, leaf) && res.CurrentSerial != "" {
		// The key is compromised: the current version, made with it by
		// a renewal that ordered before this revocation (ReuseKey), is
		// revoked too, signed as the first request was (with the
		// certificate's key, it is that one's key as well).
		if err := e.revokeSameKey(ctx, cl, req, certKey, ca, caRoot, lin, cur); err != nil {
			return res, err
		}
		res.SameKeyRevoked = true
	}
	return res, nil
}

// sameKey reports whether cur, if any, has leaf's public key.
func sameKey(cur, leaf *x509.Certificate) bool {
	if cur == nil {
		return false
	}
	pub, ok := cur.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(leaf.PublicKey)
}

// revokeSameKey revokes cur, the store's current version of lin, which
// has the key of the certificate Revoke has just revoked for
// keyCompromise, for the same reason, and records it. Its errors are
// Revoke's, about cur (a *RevocationRecordError with Sent when only the
// record failed).
func (e *Engine) revokeSameKey(ctx context.Context, cl *acme.Client, req RevokeRequest, certKey crypto.Signer, ca, caRoot string, lin *store.Lineage, cur *x509.Certificate) error {
	serial := cur.SerialNumber.Text(16)
	var err error
	if req.WithCertKey {
		err = cl.RevokeCertificateWithKey(ctx, certKey, cur.Raw, req.Reason)
	} else {
		acct, aerr := e.revokeAccount(ctx, ca, caRoot, req.Account, lin)
		if aerr != nil {
			return aerr
		}
		err = cl.RevokeCertificate(ctx, acct, cur.Raw, req.Reason)
	}
	already := acme.IsAlreadyRevoked(err)
	if err != nil && !already {
		return fmt.Errorf("engine: the current certificate %s of %s has the compromised key and could not be revoked: %w", serial, lin.Name, err)
	}
	e.log.WarnContext(ctx, "the store's current certificate of this name has the same key, compromised: revoked too", "name", lin.Name, "serial", serial, "already_revoked", already)
	if _, err := e.certs.MarkRevokedOnce(ctx, lin.CA, lin.Name, serial, e.now(), int(req.Reason)); err != nil {
		return &RevocationRecordError{Name: lin.Name, CA: lin.CA, Sent: true, Err: err}
	}
	return nil
}

// revokeKey returns the key that signs a revocation with the
// certificate's key: given, else the one stored (PEM), checked against
// leaf.
func revokeKey(given crypto.Signer, storedPEM []byte, leaf *x509.Certificate) (crypto.Signer, error) {
	key := given
	if key == nil {
		if len(storedPEM) == 0 {
			return nil, ErrNoCertificateKey
		}
		var err error
		if key, err = keys.ParsePEM(storedPEM); err != nil {
			return nil, fmt.Errorf("engine: the stored key of the certificate: %w", err)
		}
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, ErrCertKeyMismatch
	}
	return key, nil
}

// revokeAccount returns the stored account id at ca that signs a
// revocation: "" means lin's (the one that obtained it), else "default".
func (e *Engine) revokeAccount(ctx context.Context, ca, caRoot, id string, lin *store.Lineage) (acme.Account, error) {
	obtainedBy := ""
	if id == "" {
		id = "default"
		if lin != nil && lin.Account != "" {
			id, obtainedBy = lin.Account, lin.Name
		}
	}
	opts := e.accountOptions(AccountOptions{ID: id})
	acct, err := e.StoredAccount(ctx, ca, caRoot, opts)
	if errors.Is(err, fs.ErrNotExist) {
		return acme.Account{}, &NoAccountError{CA: ca, ID: opts.id(), ObtainedBy: obtainedBy, Err: err}
	}
	return acct, err
}

// certName is the name of a certificate the store does not keep: its
// common name, else its first name, in lower case.
func certName(leaf *x509.Certificate) string {
	if cn := strings.ToLower(leaf.Subject.CommonName); cn != "" {
		return cn
	}
	if names := leafNames(leaf); len(names) > 0 {
		return names[0]
	}
	return ""
}
