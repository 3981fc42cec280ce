package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
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
	indexLock   = "certkeeper/index"
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

// IndexRecord summarises one stored certificate (LayoutStandard).
type IndexRecord struct {
	// CA is the CA's directory URL, Name the certificate's name.
	CA, Name string
	// Identifiers are the identifiers the certificate was obtained for
	// (Resource.Identifiers); CertNames the DNS names and IP addresses
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

// maxIndexError is the longest LastError a schedule line carries whole:
// an append of at most 4 KiB does not interleave with another's.
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

// putLine is the line of a certificate saved.
func (r *IndexRecord) putLine() string {
	ids := ""
	if !slices.Equal(r.Identifiers, r.CertNames) {
		ids = escList(r.Identifiers)
	}
	flags := ""
	if r.HasKey {
		flags += "k"
	}
	return strings.Join([]string{"P", indexEsc.Replace(r.CA), indexEsc.Replace(r.Name), ids, escList(r.CertNames),
		indexEsc.Replace(r.Issuer), r.Serial, fmtTime(r.NotBefore, false), fmtTime(r.NotAfter, false),
		strconv.Itoa(r.Version), strconv.FormatFloat(r.Draw, 'g', -1, 64), flags}, "\t") + "\n"
}

func schedLine(ca, name string, s Schedule) string {
	if len(s.LastError) > maxIndexError {
		s.LastError, s.ErrorCut = s.LastError[:maxIndexError], true
	}
	flags := ""
	if s.ErrorCut {
		flags = "c"
	}
	return strings.Join([]string{"S", indexEsc.Replace(ca), indexEsc.Replace(name), s.Serial,
		fmtTime(s.NextRenewal, true), fmtTime(s.RenewAt, true), fmtTime(s.Recheck, true),
		strconv.Itoa(s.Failures), fmtTime(s.NextAttempt, true), indexEsc.Replace(s.LastError),
		fmtTime(s.LastSuccess, true), flags}, "\t") + "\n"
}

func revokedLine(r *IndexRecord) string {
	return strings.Join([]string{"R", indexEsc.Replace(r.CA), indexEsc.Replace(r.Name), r.Serial,
		fmtTime(r.RevokedAt, true), strconv.Itoa(r.RevocationReason)}, "\t") + "\n"
}

func lineageLine(ca, name string, l *IndexLineage) string {
	return strings.Join([]string{"L", indexEsc.Replace(ca), indexEsc.Replace(name),
		indexEsc.Replace(l.Account), escList(l.Identifiers)}, "\t") + "\n"
}

// shard is what one index shard says: the certificates, the lineage
// records and the schedules, by CA and name.
type shard struct {
	recs   map[indexKey]*IndexRecord
	lins   map[indexKey]*IndexLineage
	scheds map[indexKey]*Schedule
}

func newShard() *shard {
	return &shard{recs: map[indexKey]*IndexRecord{}, lins: map[indexKey]*IndexLineage{}, scheds: map[indexKey]*Schedule{}}
}

func (sh *shard) len() int { return len(sh.recs) + len(sh.lins) + len(sh.scheds) }

// indexParse applies the lines of data to sh. It returns the number of
// lines and of lines it could not read. changed, if not nil, gets the
// certificates whose record a line touched.
func indexParse(data []byte, sh *shard, changed map[indexKey]bool) (lines, bad int) {
	recs := sh.recs
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			// A line cut short (a writer that died): ignored.
			bad++
			break
		}
		line := string(data[:i])
		data = data[i+1:]
		if strings.HasPrefix(line, indexMagic) {
			continue
		}
		lines++
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			bad++
			continue
		}
		k := indexKey{unesc(f[1]), unesc(f[2])}
		switch {
		case f[0] == "P" && len(f) == 12:
			r := &IndexRecord{CA: k.ca, Name: k.name, CertNames: unescList(f[4]), Issuer: unesc(f[5]), Serial: f[6],
				NotBefore: parseTime(f[7], false), NotAfter: parseTime(f[8], false), HasKey: strings.Contains(f[11], "k")}
			r.Identifiers = r.CertNames
			if f[3] != "" {
				r.Identifiers = unescList(f[3])
			}
			r.Version, _ = strconv.Atoi(f[9])
			r.Draw, _ = strconv.ParseFloat(f[10], 64)
			if old := recs[k]; old != nil && old.Serial == r.Serial {
				r.Schedule, r.Revoked, r.RevokedAt, r.RevocationReason = old.Schedule, old.Revoked, old.RevokedAt, old.RevocationReason
			}
			recs[k] = r
		case f[0] == "S" && (len(f) == 10 || len(f) == 12):
			s := Schedule{Serial: f[3], NextRenewal: parseTime(f[4], true), RenewAt: parseTime(f[5], true),
				Recheck: parseTime(f[6], true), NextAttempt: parseTime(f[8], true), LastError: unesc(f[9])}
			s.Failures, _ = strconv.Atoi(f[7])
			if len(f) == 12 {
				s.LastSuccess, s.ErrorCut = parseTime(f[10], true), strings.Contains(f[11], "c")
			}
			sh.scheds[k] = &s
			r := recs[k]
			if r == nil {
				continue // about a certificate not stored (yet)
			}
			r.Schedule = s
		case f[0] == "R" && (len(f) == 4 || len(f) == 6):
			if r := recs[k]; r != nil && r.Serial == f[3] {
				r.Revoked = true
				if len(f) == 6 {
					r.RevokedAt = parseTime(f[4], true)
					r.RevocationReason, _ = strconv.Atoi(f[5])
				}
			}
		case f[0] == "D" && len(f) == 3:
			delete(recs, k)
		case f[0] == "L" && len(f) == 5:
			sh.lins[k] = &IndexLineage{Account: unesc(f[3]), Identifiers: unescList(f[4])}
			continue
		case f[0] == "l" && len(f) == 3:
			delete(sh.lins, k)
			continue
		default:
			bad++
			continue
		}
		if changed != nil {
			changed[k] = true
		}
	}
	return lines, bad
}

// indexAppend appends line to the shard of (ca, name), if the store can.
func (c *Certs) indexAppend(ctx context.Context, ca, name, line string) error {
	ap, ok := c.Store.(Appender)
	if !ok || c.Layout != LayoutStandard {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // the certificate is saved: so is its record
	unlock, err := c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	defer unlock()
	return ap.Append(ctx, shardOf(ca, name), []byte(line))
}

// indexSaved records the certificate just saved under dir.
func (c *Certs) indexSaved(ctx context.Context, res Resource, dir string) error {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return nil
	}
	n, err := c.current(ctx, dir)
	if err != nil {
		return err
	}
	_, certs, err := checkPair(nil, res.ChainPEM)
	if err != nil {
		return err
	}
	r := recordOf(res, certs[0], n)
	return c.indexAppend(ctx, r.CA, r.Name, r.putLine())
}

func recordOf(res Resource, leaf *x509.Certificate, version int) *IndexRecord {
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

// indexFull marks an index that records lineages and schedules too.
const indexFull = indexDir + "/full"

// Index reads the certificate index (LayoutStandard, in a store that is
// an Appender; else it returns an error wrapping ErrNoIndex). An index
// that is missing (a store written by an older certkeeper, or by a
// program that wrote no index), or that does not record lineages and
// schedules yet (one written by an older certkeeper), is rebuilt once
// from the certificates, which reads and parses each of them. Shards with
// more stale lines than live ones are compacted.
func (c *Certs) Index(ctx context.Context) (*Index, error) {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return nil, ErrNoIndex
	}
	_, err := c.Store.Stat(ctx, indexMarker)
	if err == nil {
		_, err = c.Store.Stat(ctx, indexFull)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err := c.RebuildIndex(ctx); err != nil {
			return nil, err
		}
		x, err := c.readIndex(ctx, true)
		if x != nil {
			x.Rebuilt = true
		}
		return x, err
	} else if err != nil {
		return nil, err
	}
	x, err := c.readIndex(ctx, true)
	if err == nil && !x.full {
		// An older version compacted a shard, dropping the lines it
		// does not know: rebuild.
		if err := c.RebuildIndex(ctx); err != nil {
			return nil, err
		}
		if x, err = c.readIndex(ctx, true); x != nil {
			x.Rebuilt = true
		}
	}
	return x, err
}

// shardFull ends the header of a shard written by a version that keeps
// lineages and schedules in the index. An older version's compaction
// writes a header without it, having dropped the lines it does not
// know: the index is then not Full until rebuilt.
const shardFull = "full"

// shardDropped reports whether data is a shard that an older version
// rewrote (see shardFull); a shard never rewritten has no header.
func shardDropped(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return bytes.HasPrefix(line, []byte(indexMagic)) && !bytes.HasSuffix(line, []byte(" "+shardFull))
}

// ReadIndex reads the certificate index as Index does, but writes
// nothing: an index that is missing, or that does not record lineages
// and schedules (Full), gives an error wrapping ErrNoIndex; the caller
// then reads the certificates themselves. It is for readers that must
// not change the store (a listing).
func (c *Certs) ReadIndex(ctx context.Context) (*Index, error) {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return nil, ErrNoIndex
	}
	for _, k := range []string{indexMarker, indexFull} {
		if _, err := c.Store.Stat(ctx, k); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is missing", ErrNoIndex, k)
		} else if err != nil {
			return nil, err
		}
	}
	return c.readIndex(ctx, false)
}

func (c *Certs) readIndex(ctx context.Context, compact bool) (*Index, error) {
	x := &Index{recs: map[indexKey]*IndexRecord{}, lins: map[indexKey]*IndexLineage{}, scheds: map[indexKey]*Schedule{}}
	if _, err := c.Store.Stat(ctx, indexFull); err == nil {
		x.full = true
	}
	for i := range indexShards {
		k := fmt.Sprintf("%s/%x", indexDir, i)
		data, err := c.Store.Get(ctx, k)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if shardDropped(data) {
			x.full = false
		}
		if len(x.recs) == 0 {
			// Most of the work of a big store: size the maps once, from
			// the lines of the first shard.
			n := bytes.Count(data, []byte{'\n'}) * indexShards * 9 / 8
			x.recs = make(map[indexKey]*IndexRecord, n)
			x.lins = make(map[indexKey]*IndexLineage, n/4)
			x.scheds = make(map[indexKey]*Schedule, n/4)
		}
		// The shards hold distinct certificates: each is parsed straight
		// into the index, and what it added is its number of records.
		n0 := len(x.recs) + len(x.lins) + len(x.scheds)
		lines, bad := indexParse(data, &shard{recs: x.recs, lins: x.lins, scheds: x.scheds}, nil)
		live := len(x.recs) + len(x.lins) + len(x.scheds) - n0
		x.mark.gens[i], x.mark.sizes[i] = shardGen(data), len(data)
		if compact && (bad > 0 || lines > 2*live+64) {
			if g, n, err := c.writeShard(ctx, k); err == nil {
				x.mark.gens[i], x.mark.sizes[i] = g, n
			}
		}
	}
	return x, nil
}

func shardGen(data []byte) string {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	g, ok := bytes.CutPrefix(line, []byte(indexMagic+" "))
	if !ok {
		return ""
	}
	return string(g)
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

// RebuildIndex writes the index again from the certificates, lineage
// records and renewal states the store holds, reading and parsing every
// one of them: for a store whose index is missing or suspected wrong.
// Schedules recorded in the index before are kept for the certificates
// they are about, unless a state says more.
func (c *Certs) RebuildIndex(ctx context.Context) error {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return ErrNoIndex
	}
	unlock, err := c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	old, err := c.readIndex(ctx, false)
	unlock()
	if err != nil {
		return err
	}
	dirs, err := c.certDirs(ctx, certsDir+"/")
	if err != nil {
		return err
	}
	shards := map[string]*shard{}
	for i := range indexShards {
		shards[fmt.Sprintf("%s/%x", indexDir, i)] = newShard()
	}
	caOf := map[string]string{} // CADirName → directory URL
	for _, dir := range dirs {
		res, err := c.loadStandardAt(ctx, dir)
		if err != nil {
			continue // not readable: not served from the index either
		}
		n, err := c.current(ctx, dir)
		if err != nil {
			return err
		}
		if res.CA == "" {
			continue
		}
		r := recordOf(res, res.Certificates[0], n)
		k := indexKey{r.CA, r.Name}
		if o := old.recs[k]; o != nil && o.Serial == r.Serial {
			r.Schedule = o.Schedule
		}
		if s := old.scheds[k]; s != nil {
			shards[shardOf(r.CA, r.Name)].scheds[k] = s
		}
		shards[shardOf(r.CA, r.Name)].recs[k] = r
		if d, err := CADirName(r.CA); err == nil {
			caOf[d] = r.CA
		}
	}
	// Unreadable lineage records are left out, as List leaves them out.
	ls, _ := c.ListLineages(ctx, "")
	for _, l := range ls {
		k := indexKey{l.CA, l.Name}
		shards[shardOf(l.CA, l.Name)].lins[k] = &IndexLineage{Account: l.Account, Identifiers: l.Identifiers}
		if d, err := CADirName(l.CA); err == nil {
			caOf[d] = l.CA
		}
	}
	sts, _ := c.ListStates(ctx, "")
	for _, st := range sts {
		s, ca, ok := stateSchedule(st.Data)
		if !ok {
			continue
		}
		if ca == "" {
			ca = caOf[st.CADir] // a state written before managers kept the CA
		}
		if ca == "" || st.Name == "" {
			continue
		}
		k := indexKey{ca, st.Name}
		sh := shards[shardOf(ca, st.Name)]
		sh.scheds[k] = &s
		if r := sh.recs[k]; r != nil {
			r.Schedule = s
		}
	}
	unlock, err = c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	defer unlock()
	for key, sh := range shards {
		if _, _, err := c.putShard(ctx, key, sh); err != nil {
			return err
		}
	}
	if err := c.Store.Put(ctx, indexMarker, []byte(indexMagic+"\n")); err != nil {
		return err
	}
	return c.Store.Put(ctx, indexFull, []byte(indexMagic+"\n"))
}

// stateSchedule reads the schedule out of a renewal state as package
// manager stores it (its JSON keys), and the state's CA ("" if it does
// not say).
func stateSchedule(data []byte) (Schedule, string, bool) {
	var st struct {
		CA          string    `json:"ca"`
		Serial      string    `json:"serial"`
		NextRenewal time.Time `json:"next_renewal"`
		LastSuccess time.Time `json:"last_success"`
		LastError   string    `json:"last_error"`
		Failures    int       `json:"failures"`
		NextAttempt time.Time `json:"next_attempt"`
		RenewAt     time.Time `json:"ari_renew_at"`
		Recheck     time.Time `json:"ari_retry_after"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return Schedule{}, "", false
	}
	s := Schedule{Serial: st.Serial, NextRenewal: st.NextRenewal.UTC(), RenewAt: st.RenewAt.UTC(), Recheck: st.Recheck.UTC(),
		Failures: st.Failures, NextAttempt: st.NextAttempt.UTC(), LastError: st.LastError, LastSuccess: st.LastSuccess.UTC()}
	if len(s.LastError) > maxIndexError {
		s.LastError, s.ErrorCut = s.LastError[:maxIndexError], true
	}
	return s, st.CA, true
}

// Reindex writes the index record of the certificate called name from
// the CA with directory URL ca again from what the store holds (a
// deletion if it holds none): for a reader that found the index behind.
func (c *Certs) Reindex(ctx context.Context, ca, name string) error {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return nil
	}
	dir, err := c.findCertDir(ctx, ca, name)
	if err != nil {
		return err
	}
	res, err := c.loadStandardAt(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return c.indexAppend(ctx, ca, name, "D\t"+indexEsc.Replace(ca)+"\t"+indexEsc.Replace(name)+"\n")
	}
	if err != nil {
		return err
	}
	n, err := c.current(ctx, dir)
	if err != nil {
		return err
	}
	if res.CA == "" {
		res.CA = ca
	}
	r := recordOf(res, res.Certificates[0], n)
	line := r.putLine()
	if r.Revoked {
		line += revokedLine(r)
	}
	return c.indexAppend(ctx, ca, name, line)
}

// IndexChanges returns the records of the certificates saved, restored
// or deleted (Deleted set) since mark, by this process or another, and
// the new mark. It reads only the shards whose size changed since mark
// (one Stat each), and of those only the lines appended, unless a shard
// was rewritten meanwhile: then all its records are returned, as a
// Watcher's Reset. It is how a manager learns of a certificate another
// process stored without reading the store's certificates again.
func (c *Certs) IndexChanges(ctx context.Context, mark IndexMark) ([]IndexRecord, IndexMark, error) {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return nil, mark, ErrNoIndex
	}
	var out []IndexRecord
	for i := range indexShards {
		k := fmt.Sprintf("%s/%x", indexDir, i)
		info, err := c.Store.Stat(ctx, k)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, mark, err
		}
		if info.Size == int64(mark.sizes[i]) {
			continue
		}
		data, err := c.Store.Get(ctx, k)
		if err != nil {
			return out, mark, err
		}
		gen := shardGen(data)
		from := mark.sizes[i]
		if gen != mark.gens[i] || from > len(data) {
			from = 0 // rewritten
		}
		// Parse the shard whole (to merge schedule lines into full
		// records) but report only what the new lines touched.
		sh := newShard()
		indexParse(data[:from], sh, nil)
		before := map[indexKey]bool{}
		for k := range sh.recs {
			before[k] = true
		}
		changed := map[indexKey]bool{}
		indexParse(data[from:], sh, changed)
		for k := range changed {
			if r := sh.recs[k]; r != nil {
				out = append(out, *r)
			} else if before[k] || from == 0 {
				out = append(out, IndexRecord{CA: k.ca, Name: k.name, Deleted: true})
			}
		}
		mark.gens[i], mark.sizes[i] = gen, len(data)
	}
	return out, mark, nil
}
