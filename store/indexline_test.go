package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSchedLineBounds checks that a schedule line reads back as written
// whatever its strings hold, and that a long error is cut whole
// characters at a time, to a field of at most maxIndexError bytes once
// escaped.
func TestSchedLineBounds(t *testing.T) {
	const ca, name = "https://ca.example.test/dir", "www.example.test"
	for _, tc := range []struct {
		desc string
		s    Schedule
	}{
		{"serial with separators", Schedule{Serial: "ab\tcd,\n%", Failures: 1, LastError: "x"}},
		{"error of newlines", Schedule{Serial: "ab", LastError: strings.Repeat("\n", 3*maxIndexError)}},
		{"error cut inside a character", Schedule{Serial: "ab", LastError: "a" + strings.Repeat("é", maxIndexError)}},
		{"short error", Schedule{Serial: "ab", LastError: "a\tb,c%d"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			line := schedLine(ca, name, tc.s)
			if f := strings.Split(strings.TrimSuffix(line, "\n"), "\t"); len(f[9]) > maxIndexError {
				t.Errorf("error field of %d bytes, want at most %d", len(f[9]), maxIndexError)
			}
			sh := newShard()
			if _, bad := indexParse([]byte(line), sh, nil); bad != 0 {
				t.Fatalf("line %q: %d bad", line, bad)
			}
			got := sh.scheds[indexKey{ca, name}]
			if got == nil {
				t.Fatalf("no schedule read from %q", line)
			}
			if got.Serial != tc.s.Serial {
				t.Errorf("Serial = %q, want %q", got.Serial, tc.s.Serial)
			}
			if !utf8.ValidString(got.LastError) || !strings.HasPrefix(tc.s.LastError, got.LastError) {
				t.Errorf("LastError %q is not a valid start of the one saved", got.LastError)
			}
			if cut := got.LastError != tc.s.LastError; got.ErrorCut != cut {
				t.Errorf("ErrorCut = %v, error cut: %v", got.ErrorCut, cut)
			}
		})
	}
}
