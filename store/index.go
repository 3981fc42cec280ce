package store

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"
)

// The index: a compact summary of every certificate of LayoutStandard
// (names, validity, serial, version, renewal schedule), so that a program
// that keeps 100,000 certificates can start, schedule renewals and list
// them without reading and parsing each one.
//
// It is kept in indexShards files, certificates/_index/<k>, each a
// header line followed by one line per change, appended by every save
// (SaveCertificate, DeleteCertificate, MarkRevoked, Restore,
// SaveSchedule): a line of tab-separated fields, the last line about a
// certificate wins. Appends and rewrites take the store lock
// "certkeeper/index". A store that cannot append (no Appender) keeps no
// index, and Index returns ErrNoIndex. The index is a cache of what the
// certificate directories hold: it is not synced to disk on every append,
// and a reader that finds a certificate newer than its record (Version)
// writes the record again (Certs.Reindex).
const (
	indexDir    = certsDir + "/_index"
	indexMarker = indexDir + "/complete"
	indexShards = 16
	indexMagic  = "certkeeper-index 1"
)

// ErrNoIndex is returned by Index when the store keeps no index: the
// shared layout, or a Store that is not an Appender.
var ErrNoIndex = errors.New("store: no certificate index")

// Appender is an optional interface of a Store that adds bytes at the end
// of a value in one step, without rewriting it: Dir (O_APPEND, a single
// write) and Memory. Certs keeps its index only in such stores.
// Append creates the value if it is missing. Appends of at most 4 KiB
// from several processes MUST NOT interleave. Unlike Put, Append need not
// be durable when it returns.
type Appender interface {
	Append(ctx context.Context, key string, data []byte) error
}

// sizedAppender is implemented by an Appender that tells the size of the
// file it appended to, without a Stat of its own: Dir.
type sizedAppender interface {
	// appendSized is Append that returns the key's size after the
	// write, or -1 if it cannot tell.
	appendSized(ctx context.Context, key string, data []byte) (int64, error)
}

// IndexRecord summarises one stored certificate (LayoutStandard).
type IndexRecord struct {
	// CA is the CA's directory URL, Name the certificate's name.
	CA, Name string
	// Identifiers are the identifiers the certificate was obtained for
	// (CertRecord.Identifiers); CertNames the DNS names and IP addresses
	// of the leaf (RFC 5280 §4.2.1.6), which may differ.
	Identifiers, CertNames []string
	// Issuer is the common name of the leaf's issuer.
	Issuer string
	// Serial is the leaf's serial number in lower-case hexadecimal.
	Serial string
	// NotBefore and NotAfter are the leaf's validity (seconds).
	NotBefore, NotAfter time.Time
	// Version is the stored version (see Versions); 0 for a certificate
	// stored before versions were kept.
	Version int
	// Draw is RenewalDraw of the leaf.
	Draw float64
	// HasKey reports whether the private key is stored with it.
	HasKey bool
	// Revoked reports whether MarkRevoked recorded the leaf as revoked;
	// RevokedAt and RevocationReason are what it recorded (zero in an
	// index written before they were kept).
	Revoked          bool
	RevokedAt        time.Time
	RevocationReason int
	// Schedule is the last renewal schedule a manager saved for the
	// certificate (SaveSchedule); zero if none, or if it was about
	// another certificate than this one (Schedule.Serial).
	Schedule Schedule
	// Deleted is set, in IndexChanges only, for a certificate deleted.
	Deleted bool
}

// Schedule is what a manager needs, besides the certificate's validity,
// to know when it next looks at a certificate: kept in the index so that
// a start reads no per-certificate file.
type Schedule struct {
	// Serial is the certificate the schedule is about ("" for none).
	Serial string
	// NextRenewal is when the certificate is due.
	NextRenewal time.Time
	// RenewAt is the moment picked in the CA's renewal window (RFC 9773
	// §4.2), zero if none.
	RenewAt time.Time
	// Recheck is when to fetch the renewal information again.
	Recheck time.Time
	// Failures counts the failed attempts in a row, NextAttempt is the
	// earliest next one and LastError the last error (one line).
	Failures    int
	NextAttempt time.Time
	LastError   string
	// LastSuccess is when an order last succeeded (zero if unknown).
	LastSuccess time.Time
	// ErrorCut reports that LastError is only the start of the error,
	// which was too long for the index: the whole one is in the state.
	ErrorCut bool
}

// maxIndexError is the most bytes of a schedule line's LastError, as
// escaped in the line (a tab, newline, comma or % takes 3): an append of
// at most 4 KiB does not interleave with another's.
const maxIndexError = 2048

// IndexLineage summarises a certificate's lineage record (Lineage):
// what a listing shows of it.
type IndexLineage struct {
	// Account is Lineage.Account, Identifiers Lineage.Identifiers.
	Account     string
	Identifiers []string
}

// RenewalDraw returns the number in (0, 1) that places leaf's renewal
// within the jitter of the lifetime rule, derived from its issuer and
// serial number so that every process computes the same one (see
// manager.RenewalDraw, which it is).
func RenewalDraw(leaf *x509.Certificate) float64 {
	h := sha256.New()
	h.Write(leaf.RawIssuer)
	if leaf.SerialNumber != nil {
		h.Write(leaf.SerialNumber.Bytes())
	}
	sum := h.Sum(nil)
	v := binary.BigEndian.Uint64(sum[:8]) >> 11 // 53 bits
	return (float64(v) + 0.5) / (1 << 53)
}

// indexKey returns the map key of a certificate.
type indexKey struct{ ca, name string }

// Index is the certificate index read by Certs.Index.
type Index struct {
	recs   map[indexKey]*IndexRecord
	lins   map[indexKey]*IndexLineage
	scheds map[indexKey]*Schedule
	mark   IndexMark
	full   bool
	// Rebuilt reports whether Certs.Index had to rebuild the index from
	// the certificates (it was missing).
	Rebuilt bool
}

// IndexMark says how far a reader has read each shard of the index, for
// IndexChanges.
type IndexMark struct {
	gens  [indexShards]string
	sizes [indexShards]int
}

// Len returns the number of certificates in the index.
func (x *Index) Len() int { return len(x.recs) }

// Lookup returns the record of the certificate called name from the CA
// with directory URL ca, or nil.
func (x *Index) Lookup(ca, name string) *IndexRecord { return x.recs[indexKey{ca, name}] }

// Records returns every record, sorted by CA and name.
func (x *Index) Records() []*IndexRecord {
	out := make([]*IndexRecord, 0, len(x.recs))
	for _, r := range x.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *IndexRecord) int {
		if c := strings.Compare(a.CA, b.CA); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Full reports whether the index records the lineage records and the
// managers' schedules too (an index written by this version, or rebuilt
// by it), so that Entries describes the store whole.
func (x *Index) Full() bool { return x.full }

// IndexEntry is what the index says of one name of one CA: the
// certificate held, its lineage record and the schedule a manager saved,
// each nil when the store has none.
type IndexEntry struct {
	CA, Name string
	Cert     *IndexRecord
	Lineage  *IndexLineage
	Schedule *Schedule
}

// Entries returns, sorted by CA and name, every certificate and every
// lineage record of the index (of the CA with directory URL ca, or of
// every CA if ca is ""), with its schedule. Only a Full index has the
// lineage records and every schedule.
func (x *Index) Entries(ca string) []IndexEntry {
	out := make([]IndexEntry, 0, len(x.recs)+len(x.lins)/8)
	for k, r := range x.recs {
		if ca == "" || k.ca == ca {
			out = append(out, IndexEntry{CA: k.ca, Name: k.name, Cert: r, Lineage: x.lins[k], Schedule: x.scheds[k]})
		}
	}
	for k, l := range x.lins {
		if x.recs[k] == nil && (ca == "" || k.ca == ca) {
			out = append(out, IndexEntry{CA: k.ca, Name: k.name, Lineage: l, Schedule: x.scheds[k]})
		}
	}
	slices.SortFunc(out, func(a, b IndexEntry) int {
		if c := strings.Compare(a.CA, b.CA); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Mark is where the index was read up to, for IndexChanges.
func (x *Index) Mark() IndexMark { return x.mark }
