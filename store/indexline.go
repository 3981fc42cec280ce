package store

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func shardOf(ca, name string) string {
	h := fnv.New32a()
	h.Write([]byte(ca))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return fmt.Sprintf("%s/%x", indexDir, h.Sum32()%indexShards)
}

var indexEsc = strings.NewReplacer("%", "%25", "\t", "%09", "\n", "%0A", "\r", "%0D", ",", "%2C")

// indexEscaped are the bytes indexEsc escapes, each as three.
const indexEscaped = "%\t\n\r,"

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
	lastErr, cut := escCut(s.LastError, maxIndexError)
	flags := ""
	if s.ErrorCut || cut {
		flags = "c"
	}
	return strings.Join([]string{"S", indexEsc.Replace(ca), indexEsc.Replace(name), indexEsc.Replace(s.Serial),
		fmtTime(s.NextRenewal, true), fmtTime(s.RenewAt, true), fmtTime(s.Recheck, true),
		strconv.Itoa(s.Failures), fmtTime(s.NextAttempt, true), lastErr,
		fmtTime(s.LastSuccess, true), flags}, "\t") + "\n"
}

// escCut returns s escaped (indexEsc), cut to its longest start of whole
// characters whose escaped form is at most limit bytes, and whether it
// was cut.
func escCut(s string, limit int) (string, bool) {
	n := 0
	for i := 0; i < len(s); {
		_, w := utf8.DecodeRuneInString(s[i:])
		ew := w
		if strings.IndexByte(indexEscaped, s[i]) >= 0 {
			ew = 3
		}
		if n+ew > limit {
			return indexEsc.Replace(s[:i]), true
		}
		n, i = n+ew, i+w
	}
	return indexEsc.Replace(s), false
}

func revokedLine(r *IndexRecord) string {
	return strings.Join([]string{"R", indexEsc.Replace(r.CA), indexEsc.Replace(r.Name), r.Serial,
		fmtTime(r.RevokedAt, true), strconv.Itoa(r.RevocationReason)}, "\t") + "\n"
}

// keyLine is a line of kind with no field but the certificate's CA and
// name: "D" (deleted) or "l" (lineage record deleted).
func keyLine(kind, ca, name string) string {
	return kind + "\t" + indexEsc.Replace(ca) + "\t" + indexEsc.Replace(name) + "\n"
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
			s := Schedule{Serial: unesc(f[3]), NextRenewal: parseTime(f[4], true), RenewAt: parseTime(f[5], true),
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
