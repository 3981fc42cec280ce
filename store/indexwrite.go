package store

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"sync"
)

// indexAppend appends line to the shard of (ca, name), if the store can,
// and returns once it is appended. Appends that arrive while another is
// being written are written together, under one hold of the index lock
// (see indexQueue).
func (c *Certs) indexAppend(ctx context.Context, ca, name, line string) error {
	if _, ok := c.Store.(Appender); !ok || !c.scheme().indexed() {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // the certificate is saved: so is its record
	return c.idx.append(ctx, c, shardOf(ca, name), line)
}

// indexQueue is a group commit for the index: the goroutine that finds
// no append under way writes, under one hold of the index lock, every
// line queued meanwhile (one append per shard), then hands the turn to
// the first goroutine that queued a line since. In a renewal storm each
// save appends two or three lines; one lock, one stat and one append per
// shard for each group replaced a lock file made and removed per line.
type indexQueue struct {
	mu      sync.Mutex
	pending []*indexLine
	writing bool
}

// indexLine is one queued line and where its writer waits.
type indexLine struct {
	key, line string
	done      chan error    // the append's outcome
	turn      chan struct{} // closed: this writer writes the next group
}

func (q *indexQueue) append(ctx context.Context, c *Certs, key, line string) error {
	l := &indexLine{key: key, line: line, done: make(chan error, 1), turn: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, l)
	mine := !q.writing
	q.writing = true
	q.mu.Unlock()
	if !mine {
		select {
		case err := <-l.done:
			return err
		case <-l.turn:
		}
	}
	q.mu.Lock()
	group := q.pending
	q.pending = nil
	q.mu.Unlock()
	err := c.appendGroup(ctx, group)
	for _, g := range group {
		g.done <- err
	}
	q.mu.Lock()
	if len(q.pending) > 0 {
		close(q.pending[0].turn)
	} else {
		q.writing = false
	}
	q.mu.Unlock()
	return <-l.done
}

// appendGroup appends the lines of group to their shards under the index
// lock, in the order queued, one append per shard.
func (c *Certs) appendGroup(ctx context.Context, group []*indexLine) error {
	ap := c.Store.(Appender)
	unlock, err := c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	defer unlock()
	var keys []string
	lines := map[string]*strings.Builder{}
	for _, g := range group {
		b := lines[g.key]
		if b == nil {
			b = &strings.Builder{}
			lines[g.key] = b
			keys = append(keys, g.key)
		}
		b.WriteString(g.line)
	}
	var errs []error
	for _, key := range keys {
		data := lines[key].String()
		// A shard appended to for long without a reader compacting it (a
		// daemon's schedules) is compacted, before Get refuses it: after
		// the append that takes it past maxShard where the store tells
		// the size it appended to (Dir), else before. If it cannot be, the
		// lines are appended all the same.
		if sa, ok := c.Store.(sizedAppender); ok {
			size, err := sa.appendSized(ctx, key, []byte(data))
			errs = append(errs, err)
			if err == nil && size > maxShard {
				_, _, _ = c.compactShard(ctx, key)
			}
			continue
		}
		if info, err := c.Store.Stat(ctx, key); err == nil && info.Size+int64(len(data)) > maxShard {
			_, _, _ = c.compactShard(ctx, key)
		}
		errs = append(errs, ap.Append(ctx, key, []byte(data)))
	}
	return errors.Join(errs...)
}

// maxShard is the size in bytes past which an append compacts a shard
// first: well below MaxValueSize, past which Get refuses it (and Memory
// refuses the append).
const maxShard = MaxValueSize / 2

// indexSaved records the certificate just saved under dir, whose chain's
// first certificate is leaf.
func (c *Certs) indexSaved(ctx context.Context, res CertRecord, leaf *x509.Certificate, n int) error {
	if !c.indexes() {
		return nil
	}
	r := recordOf(res, leaf, n)
	return c.indexAppend(ctx, r.CA, r.Name, r.putLine())
}

func recordOf(res CertRecord, leaf *x509.Certificate, version int) *IndexRecord {
	r := &IndexRecord{
		CA: res.CA, Name: res.Name, CertNames: leafIdentifiers(leaf), Issuer: leaf.Issuer.CommonName,
		Serial: serialOf(leaf), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Version: version,
		Draw: RenewalDraw(leaf), HasKey: len(res.KeyPEM) > 0, Revoked: res.Revoked != nil,
	}
	if res.Revoked != nil {
		r.RevokedAt, r.RevocationReason = res.Revoked.At, res.Revoked.Reason
	}
	r.Identifiers = res.Identifiers
	if len(r.Identifiers) == 0 {
		r.Identifiers = r.CertNames
	}
	return r
}

// SaveSchedule records in the index the renewal schedule of the
// certificate called name from the CA with directory URL ca, for
// managers that start from the index. It does nothing in a store without
// an index.
func (c *Certs) SaveSchedule(ctx context.Context, ca, name string, s Schedule) error {
	return c.indexAppend(ctx, ca, name, schedLine(ca, name, s))
}

// writeShard rewrites shard key with one line per record, under the
// index lock, read again under the lock: lines another process appended
// are kept.
func (c *Certs) writeShard(ctx context.Context, key string) (string, int, error) {
	unlock, err := c.Store.Lock(ctx, indexLock)
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	return c.compactShard(ctx, key)
}

// compactShard is writeShard for a caller that holds the index lock.
func (c *Certs) compactShard(ctx context.Context, key string) (string, int, error) {
	data, err := c.Store.Get(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", 0, err
	}
	sh := newShard()
	indexParse(data, sh, nil)
	return c.putShard(ctx, key, sh)
}

func (c *Certs) putShard(ctx context.Context, key string, sh *shard) (string, int, error) {
	var g [8]byte
	rand.Read(g[:])
	gen := hex.EncodeToString(g[:])
	var b strings.Builder
	b.WriteString(indexMagic + " " + gen + " " + shardFull + "\n")
	for _, r := range sh.recs {
		b.WriteString(r.putLine())
		if r.Revoked {
			b.WriteString(revokedLine(r))
		}
	}
	// After every certificate's line, so that each is applied to it.
	for k, s := range sh.scheds {
		b.WriteString(schedLine(k.ca, k.name, *s))
	}
	for k, l := range sh.lins {
		b.WriteString(lineageLine(k.ca, k.name, l))
	}
	if err := c.Store.Put(ctx, key, []byte(b.String())); err != nil {
		return "", 0, err
	}
	return gen, b.Len(), nil
}

// Reindex writes the index record of the certificate called name from
// the CA with directory URL ca again from what the store holds (a
// deletion if it holds none): for a reader that found the index behind.
func (c *Certs) Reindex(ctx context.Context, ca, name string) error {
	if !c.indexes() {
		return nil
	}
	dir, err := c.findCertDir(ctx, ca, name)
	if err != nil {
		return err
	}
	res, err := c.loadStandardAt(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return c.indexAppend(ctx, ca, name, keyLine("D", ca, name))
	}
	if err != nil {
		return err
	}
	if res.CA == "" {
		res.CA = ca
	}
	r := recordOf(res, res.Certificates[0], res.Version)
	line := r.putLine()
	if r.Revoked {
		line += revokedLine(r)
	}
	return c.indexAppend(ctx, ca, name, line)
}
