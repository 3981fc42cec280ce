package store

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

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
