package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
)

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
	if !c.indexes() {
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
	if errors.Is(err, ErrTooLarge) || err == nil && !x.full {
		// An older version compacted a shard, dropping the lines it
		// does not know, or let one grow past what Get reads: rebuild.
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
	if err := c.indexWhole(ctx); err != nil {
		return nil, err
	}
	return c.readIndex(ctx, false)
}

// indexWhole returns nil if the store keeps an index (else ErrNoIndex)
// that is complete and Full (else an error wrapping ErrNoIndex naming
// the marker missing): one that a reader that writes nothing can use.
func (c *Certs) indexWhole(ctx context.Context) error {
	if !c.indexes() {
		return ErrNoIndex
	}
	for _, k := range []string{indexMarker, indexFull} {
		if _, err := c.Store.Stat(ctx, k); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s is missing", ErrNoIndex, k)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func newIndex() *Index {
	return &Index{recs: map[indexKey]*IndexRecord{}, lins: map[indexKey]*IndexLineage{}, scheds: map[indexKey]*Schedule{}}
}

func (c *Certs) readIndex(ctx context.Context, compact bool) (*Index, error) {
	x := newIndex()
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

// IndexChanges returns the records of the certificates saved, restored
// or deleted (Deleted set) since mark, by this process or another, and
// the new mark. It reads only the shards whose size changed since mark
// (one Stat each), and of those only the lines appended, unless a shard
// was rewritten meanwhile: then all its records are returned, as a
// Watcher's Reset. It is how a manager learns of a certificate another
// process stored without reading the store's certificates again.
func (c *Certs) IndexChanges(ctx context.Context, mark IndexMark) ([]IndexRecord, IndexMark, error) {
	if !c.indexes() {
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
