package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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
	if err := c.indexWhole(ctx); err != nil {
		return nil, err
	}
	needles := make([][]byte, 0, len(names))
	for _, n := range names {
		if n != "" {
			needles = append(needles, asciiLower(nil, []byte(indexEsc.Replace(n))))
		}
	}
	seen := map[IndexKey]bool{}
	var out []IndexKey
	var lower []byte // reused from shard to shard
	for i := range indexShards {
		data, err := c.Store.Get(ctx, fmt.Sprintf("%s/%x", indexDir, i))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if shardDropped(data) {
			return nil, fmt.Errorf("%w: shard %x was rewritten by an older version", ErrNoIndex, i)
		}
		lower = asciiLower(lower[:0], data)
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

// asciiLower appends data with ASCII letters in lower case to dst (the
// index holds names in ASCII: internationalised ones in punycode).
func asciiLower(dst, data []byte) []byte {
	dst = slices.Grow(dst, len(data))[:len(data)]
	for i, b := range data {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst[i] = b
	}
	return dst
}

func fieldEdge(b byte) bool { return b == '\t' || b == ',' || b == '\n' }

// PathsFunc returns the paths of a certificate that the index says the
// store holds (hasKey: with its private key), as Paths returns them, for
// listing many.
type PathsFunc func(ca, name string, hasKey bool) (CertPaths, error)

// IndexPaths returns a PathsFunc that computes paths without looking at
// the files, when the store is a Dir (LayoutStandard) in which every
// certificate is where this version puts it (no CA directory of an older
// version is left for Migrate to move); else nil, and the caller uses
// Paths and checks the files.
func (c *Certs) IndexPaths(ctx context.Context) PathsFunc {
	p, ok := c.Store.(interface{ Path(string) (string, error) })
	if !ok || !c.scheme().indexed() || ctx.Err() != nil {
		return nil
	}
	base, err := p.Path(certsDir)
	if err != nil {
		return nil
	}
	des, err := os.ReadDir(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, de := range des {
		if de.IsDir() && !strings.HasPrefix(de.Name(), ".") && de.Name() != path.Base(indexDir) && !newDirLike(de.Name()) {
			return nil // an older version's, not moved yet
		}
	}
	caDirs := map[string]string{}
	return func(ca, name string, hasKey bool) (CertPaths, error) {
		caDir, ok := caDirs[ca]
		if !ok {
			var err error
			if caDir, err = CADirName(ca); err != nil {
				return CertPaths{}, err
			}
			caDirs[ca] = caDir
		}
		enc, err := EncodeName(name)
		if err != nil {
			return CertPaths{}, err
		}
		// base is clean and the names hold no separator: what
		// filepath.Join gives, without its cost for 100,000 names.
		const sep = string(filepath.Separator)
		dir := base + sep + caDir + sep + enc
		out := CertPaths{
			Dir: dir, Live: dir + sep + liveLink, Cert: dir + sep + certFile,
			Combined: dir + sep + combinedFile, Meta: dir + sep + metaFile,
		}
		if hasKey {
			out.Key = dir + sep + keyFile
		}
		return out, nil
	}
}
