package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
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
	// Revoked reports whether MarkRevoked recorded the leaf as revoked.
	Revoked bool
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

func shardOf(ca, name string) string {
	h := fnv.New32a()
	h.Write([]byte(ca))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return fmt.Sprintf("%s/%x", indexDir, h.Sum32()%indexShards)
}

var indexEsc = strings.NewReplacer("%", "%25", "\t", "%09", "\n", "%0A", "\r", "%0D", ",", "%2C")

func unesc(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func escList(l []string) string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = indexEsc.Replace(s)
	}
	return strings.Join(out, ",")
}

func unescList(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.Split(s, ",")
	for i := range l {
		l[i] = unesc(l[i])
	}
	return l
}

func fmtTime(t time.Time, nanos bool) string {
	if t.IsZero() {
		return "0"
	}
	if nanos {
		return strconv.FormatInt(t.UnixNano(), 10)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func parseTime(s string, nanos bool) time.Time {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v == 0 {
		return time.Time{}
	}
	if nanos {
		return time.Unix(0, v).UTC()
	}
	return time.Unix(v, 0).UTC()
}

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
	return strings.Join([]string{"S", indexEsc.Replace(ca), indexEsc.Replace(name), s.Serial,
		fmtTime(s.NextRenewal, true), fmtTime(s.RenewAt, true), fmtTime(s.Recheck, true),
		strconv.Itoa(s.Failures), fmtTime(s.NextAttempt, true), indexEsc.Replace(s.LastError)}, "\t") + "\n"
}

// indexParse applies the lines of data to recs. It returns the number
// of lines and of lines it could not read.
func indexParse(data []byte, recs map[indexKey]*IndexRecord, changed map[indexKey]bool) (lines, bad int) {
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
				r.Schedule, r.Revoked = old.Schedule, old.Revoked
			}
			recs[k] = r
		case f[0] == "S" && len(f) == 10:
			r := recs[k]
			if r == nil {
				continue // about a certificate not stored (yet)
			}
			r.Schedule = Schedule{Serial: f[3], NextRenewal: parseTime(f[4], true), RenewAt: parseTime(f[5], true),
				Recheck: parseTime(f[6], true), NextAttempt: parseTime(f[8], true), LastError: unesc(f[9])}
			r.Schedule.Failures, _ = strconv.Atoi(f[7])
		case f[0] == "R" && len(f) == 4:
			if r := recs[k]; r != nil && r.Serial == f[3] {
				r.Revoked = true
			}
		case f[0] == "D" && len(f) == 3:
			delete(recs, k)
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
	recs map[indexKey]*IndexRecord
	mark IndexMark
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

// Mark is where the index was read up to, for IndexChanges.
func (x *Index) Mark() IndexMark { return x.mark }

// Index reads the certificate index (LayoutStandard, in a store that is
// an Appender; else it returns an error wrapping ErrNoIndex). An index
// that is missing (a store written by an older certkeeper, or by a
// program that wrote no index) is rebuilt once from the certificates,
// which reads and parses each of them. Shards with more stale lines than
// live ones are compacted.
func (c *Certs) Index(ctx context.Context) (*Index, error) {
	if _, ok := c.Store.(Appender); !ok || c.Layout != LayoutStandard {
		return nil, ErrNoIndex
	}
	if _, err := c.Store.Stat(ctx, indexMarker); errors.Is(err, fs.ErrNotExist) {
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
	return c.readIndex(ctx, true)
}

func (c *Certs) readIndex(ctx context.Context, compact bool) (*Index, error) {
	x := &Index{recs: map[indexKey]*IndexRecord{}}
	for i := range indexShards {
		k := fmt.Sprintf("%s/%x", indexDir, i)
		data, err := c.Store.Get(ctx, k)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		shard := map[indexKey]*IndexRecord{}
		lines, bad := indexParse(data, shard, nil)
		x.mark.gens[i], x.mark.sizes[i] = shardGen(data), len(data)
		if compact && (bad > 0 || lines > 2*len(shard)+64) {
			if g, n, err := c.writeShard(ctx, k, shard); err == nil {
				x.mark.gens[i], x.mark.sizes[i] = g, n
			}
		}
		for k, r := range shard {
			x.recs[k] = r
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

// writeShard replaces shard key by recs, under the index lock. Lines
// appended since recs was read are kept.
func (c *Certs) writeShard(ctx context.Context, key string, recs map[indexKey]*IndexRecord) (string, int, error) {
	unlock, err := c.Store.Lock(ctx, indexLock)
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	// Read again under the lock: another process may have appended.
	data, err := c.Store.Get(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", 0, err
	}
	recs = map[indexKey]*IndexRecord{}
	indexParse(data, recs, nil)
	return c.putShard(ctx, key, recs)
}

func (c *Certs) putShard(ctx context.Context, key string, recs map[indexKey]*IndexRecord) (string, int, error) {
	var g [8]byte
	rand.Read(g[:])
	gen := hex.EncodeToString(g[:])
	var b strings.Builder
	b.WriteString(indexMagic + " " + gen + "\n")
	for _, r := range recs {
		b.WriteString(r.putLine())
		if r.Revoked {
			b.WriteString("R\t" + indexEsc.Replace(r.CA) + "\t" + indexEsc.Replace(r.Name) + "\t" + r.Serial + "\n")
		}
		if r.Schedule != (Schedule{}) {
			b.WriteString(schedLine(r.CA, r.Name, r.Schedule))
		}
	}
	if err := c.Store.Put(ctx, key, []byte(b.String())); err != nil {
		return "", 0, err
	}
	return gen, b.Len(), nil
}

// RebuildIndex writes the index again from the certificates the store
// holds, reading and parsing every one of them: for a store whose index
// is missing or suspected wrong. Schedules recorded in the index before
// are kept for the certificates they are about.
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
	shards := map[string]map[indexKey]*IndexRecord{}
	for i := range indexShards {
		shards[fmt.Sprintf("%s/%x", indexDir, i)] = map[indexKey]*IndexRecord{}
	}
	for _, dir := range dirs {
		res, err := c.loadStandardAt(ctx, dir)
		if err != nil {
			continue // not readable: not served from the index either
		}
		n, err := c.current(ctx, dir)
		if err != nil {
			return err
		}
		r := recordOf(res, res.Certificates[0], n)
		k := indexKey{r.CA, r.Name}
		if o := old.recs[k]; o != nil && o.Serial == r.Serial {
			r.Schedule = o.Schedule
		}
		shards[shardOf(r.CA, r.Name)][k] = r
	}
	unlock, err = c.Store.Lock(ctx, indexLock)
	if err != nil {
		return err
	}
	defer unlock()
	for key, recs := range shards {
		if _, _, err := c.putShard(ctx, key, recs); err != nil {
			return err
		}
	}
	return c.Store.Put(ctx, indexMarker, []byte(indexMagic+"\n"))
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
		line += "R\t" + indexEsc.Replace(r.CA) + "\t" + indexEsc.Replace(r.Name) + "\t" + r.Serial + "\n"
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
		all := map[indexKey]*IndexRecord{}
		indexParse(data[:from], all, nil)
		before := map[indexKey]bool{}
		for k := range all {
			before[k] = true
		}
		changed := map[indexKey]bool{}
		indexParse(data[from:], all, changed)
		for k := range changed {
			if r := all[k]; r != nil {
				out = append(out, *r)
			} else if before[k] || from == 0 {
				out = append(out, IndexRecord{CA: k.ca, Name: k.name, Deleted: true})
			}
		}
		mark.gens[i], mark.sizes[i] = gen, len(data)
	}
	return out, mark, nil
}
