package store

import "hash/maphash"

// nameSet is a set of names (lock names, directories) that a Dir
// remembers for as long as it lives, kept as 64-bit hashes under a seed
// of its own: about 10 bytes a member in place of the name's 60-100 and
// its map slot, so that a process that writes 100,000 certificates does
// not keep 100,000 names (a renewal storm kept two per certificate,
// 0.25 KB). Two names with the same hash count as one: with a random
// seed that is about one chance in 10^9 for 100,000 names, and each
// user of a nameSet is a memo whose false "seen" costs at most a best-
// effort clean-up skipped (see Dir.leftoversMayExist, removeStaleTemps).
// The zero value is an empty set; it is not safe for concurrent use.
type nameSet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func (s *nameSet) hash(name string) uint64 { return maphash.String(s.seed, name) }

// add puts name in s.
func (s *nameSet) add(name string) {
	if s.m == nil {
		s.seed, s.m = maphash.MakeSeed(), map[uint64]struct{}{}
	}
	s.m[s.hash(name)] = struct{}{}
}

// has reports whether name is in s.
func (s *nameSet) has(name string) bool {
	if s.m == nil {
		return false
	}
	_, ok := s.m[s.hash(name)]
	return ok
}

// remove takes name out of s.
func (s *nameSet) remove(name string) {
	if s.m != nil {
		delete(s.m, s.hash(name))
	}
}
