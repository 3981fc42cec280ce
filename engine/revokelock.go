package engine

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/internal/progress"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// revokeLockWait is said (at Info, after progress.Threshold) while Revoke
// waits for the certificate's lock, as the manager says it while an order
// waits for it.
const revokeLockWait = "waiting for the store's lock: another process is ordering or revoking this certificate"

// lockRevoke takes the store's lock that every renewal of lin's
// certificate holds around its order and save (store.Certs.ObtainLock,
// the manager's), so that a revocation's check, send and record exclude
// renewals and other revocations of that certificate. It waits as long
// as ctx lets it, and says so. In a cluster store this is the same lock
// as the manager's fenced one (Store.Lock and FencedLocker.LockFenced
// take one lock); Revoke does not fence its writes, since the CA's
// revocation, once sent, is to be recorded whatever happened to the lock.
func (e *Engine) lockRevoke(ctx context.Context, lin *store.Lineage) (func(), error) {
	name, err := e.certs.ObtainLock(lin.CA, lin.Name)
	if err != nil {
		return nil, err
	}
	stop := progress.Watch(ctx, e.log, progress.Threshold, revokeLockWait,
		slog.String("name", lin.Name), slog.String("lock", name))
	unlock, err := e.cfg.Store.Lock(ctx, name)
	stop()
	if err != nil {
		return nil, fmt.Errorf("engine: taking the store's lock %s to revoke %s, so nothing was sent to the CA: %w", name, lin.Name, err)
	}
	return func() {
		if err := unlock(); err != nil {
			e.log.WarnContext(ctx, "releasing the store's lock", "lock", name, "error", err)
		}
	}, nil
}

// storedNow reads, under lockRevoke's lock, the store's current version
// of lin's certificate (nil if it cannot be read) and the revocation
// recorded for leaf (nil if none, or if it cannot be read: the CA then
// answers alreadyRevoked, as it did before the lock existed).
func (e *Engine) storedNow(ctx context.Context, lin *store.Lineage, leaf *x509.Certificate) (*x509.Certificate, *store.Revocation) {
	var cur *x509.Certificate
	if r, err := e.certs.LoadCertificate(ctx, lin.CA, lin.Name); err == nil && len(r.ChainPEM) > 0 {
		if chain, err := keys.ParseCertificates(r.ChainPEM); err == nil {
			cur = chain[0]
		}
	}
	rv, err := e.certs.LoadRevocation(ctx, lin.CA, lin.Name, leaf.SerialNumber.Text(16))
	if err != nil {
		e.log.WarnContext(ctx, "the store's record of revocations cannot be read; asking the CA", "name", lin.Name, "error", err)
		return cur, nil
	}
	return cur, rv
}

// recordAnswers reports whether rv, a revocation the store records, is
// leaf's and answers a request to revoke it for reason: 0 takes any
// recorded reason; another reason than the recorded one is sent all the
// same.
func recordAnswers(rv *store.Revocation, leaf *x509.Certificate, reason acme.RevocationReason) bool {
	return rv != nil && strings.EqualFold(strings.TrimLeft(rv.Serial, "0"), strings.TrimLeft(leaf.SerialNumber.Text(16), "0")) &&
		(reason == 0 || int(reason) == rv.Reason)
}

// recordedRevocation is Revoke's result for a certificate of lin the
// store records revoked (rv): nothing sent, nothing written; cur is the
// current version if it was read.
func (e *Engine) recordedRevocation(ctx context.Context, lin *store.Lineage, leaf *x509.Certificate, rv *store.Revocation, cur *x509.Certificate) RevokeResult {
	res := RevokeResult{Name: lin.Name, CA: lin.CA, Identifiers: leafNames(leaf), Serial: leaf.SerialNumber.Text(16),
		Certificate: leaf, Reason: acme.RevocationReason(rv.Reason), At: rv.At, Stored: true, AlreadyRevoked: true,
		CurrentSerial: currentSerial(cur, leaf)}
	e.log.InfoContext(ctx, "certificate already revoked, as the store records", "name", lin.Name, "ca", lin.CA, "serial", res.Serial, "at", rv.At)
	if cur != nil && res.CurrentSerial != "" {
		if crv, err := e.certs.LoadRevocation(ctx, lin.CA, lin.Name, res.CurrentSerial); err == nil && crv != nil {
			res.SameKeyRevoked = sameKey(cur, leaf) && crv.Reason == rv.Reason
			return res // the current version is recorded revoked too
		}
	}
	e.sayCurrent(ctx, lin, res, cur, false)
	return res
}

// currentSerial is RevokeResult.CurrentSerial: cur's serial if it is not
// leaf's.
func currentSerial(cur, leaf *x509.Certificate) string {
	if cur == nil || cur.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		return ""
	}
	return cur.SerialNumber.Text(16)
}

// sayCurrent says, after res's certificate was revoked, that the store's
// current version (cur) is another one, which is not revoked; or, if it
// has the same key and the revocation says that key was compromised (a
// renewal with Lineage.ReuseKey that made its request before this
// revocation was recorded), that it is revoked next (revokeSameKey) if
// revokingIt, else, loudly, that it is not.
func (e *Engine) sayCurrent(ctx context.Context, lin *store.Lineage, res RevokeResult, cur *x509.Certificate, revokingIt bool) {
	if res.CurrentSerial == "" {
		return
	}
	if res.Reason == acme.ReasonKeyCompromise && sameKey(cur, res.Certificate) {
		if revokingIt {
			e.log.InfoContext(ctx, "the store's current certificate of this name is another one, with the same key, which this revocation says is compromised: it is revoked next",
				"name", lin.Name, "revoked_serial", res.Serial, "current_serial", res.CurrentSerial)
		} else {
			e.log.WarnContext(ctx, "the store's current certificate of this name is another one, with the same key, which this revocation says is compromised; it is not revoked: revoke it too",
				"name", lin.Name, "revoked_serial", res.Serial, "current_serial", res.CurrentSerial)
		}
		return
	}
	e.log.InfoContext(ctx, "the store's current certificate of this name is another one (a renewal stored it, or the one revoked was an earlier version); it is not revoked",
		"name", lin.Name, "revoked_serial", res.Serial, "current_serial", res.CurrentSerial)
}
