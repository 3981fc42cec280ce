package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// IndexKey names one certificate of the index: the directory URL of its
// CA and its name.
type IndexKey struct{ CA, Name string }

// FindInIndex returns, sorted, the certificates and lineage records of
// the index whose lines mention one of names (in any case) as their name
// or among their identifiers, without parsing the rest of the index: it
// searches the index's bytes, which takes milliseconds for 100,000
// certificates, where Index parses every line. The result may hold
// certificates that no longer match (an older line mentioned the name):
// the caller reads each one's own records and checks. Like ReadIndex it
// writes nothing, and an index that is missing or not Full gives an error
// wrapping ErrNoIndex.
func (c *Certs) FindInIndex(ctx context.Context, names []string) ([]IndexKey, error) {
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
	needles := make([][]byte, 0, len(names))
	for _, n := range names {
		if n != "" {
			needles = append(needles, []byte(strings.ToLower(indexEsc.Replace(n))))
		}
	}
	seen := map[IndexKey]bool{}
	var out []IndexKey
	for i := range indexShards {
		data, err := c.Store.Get(ctx, fmt.Sprintf("%s/%x", indexDir, i))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		lower := bytes.ToLower(data)
		for _, needle := range needles {
			for from := 0; ; {
				j := bytes.Index(lower[from:], needle)
				if j < 0 {
					break
				}
				j += from
				end := j + len(needle)
				from = end
				// A whole field or list item: bounded by a tab, a comma
				// or the line's ends.
				if j == 0 || !fieldEdge(lower[j-1]) || end < len(lower) && !fieldEdge(lower[end]) {
					continue
				}
				start := bytes.LastIndexByte(data[:j], '\n') + 1
				stop := bytes.IndexByte(data[j:], '\n')
				if stop < 0 {
					break // a line cut short
				}
				f := strings.SplitN(string(data[start:j+stop]), "\t", 4)
				if len(f) < 3 {
					continue
				}
				k := IndexKey{unesc(f[1]), unesc(f[2])}
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
				from = j + stop
			}
		}
	}
	slices.SortFunc(out, func(a, b IndexKey) int {
		if c := strings.Compare(a.CA, b.CA); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func fieldEdge(b byte) bool { return b == '\t' || b == ',' || b == '\n' }
