package config

import (
	"errors"
	"strings"
	"testing"
)

// TOML mistakes are explained with the line and, for the table / array
// of tables slip, the right form.
func TestTOMLMistakesExplained(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
		want     []string
	}{
		{"[certificate] for [[certificate]]", "[ca]\nurl = \"letsencrypt\"\n\n[certificate]\nnames = [\"a.example\"]\n", 4,
			[]string{"line 4: [certificate] is one table", "write [[certificate]] (double brackets)", "    4 | [certificate]"}},
		{"[hook] for [[hook]]", "[hook]\ncommand = \"/bin/true\"\n", 1, []string{"write [[hook]]"}},
		{"[[renewal]] for [renewal]", "[[renewal]]\njitter = 0.1\n", 1, []string{"[[renewal]] is an array of tables", "write [renewal] (single brackets)"}},
		{"a string for a list", "[[certificate]]\nnames = \"a.example\"\n", 2,
			[]string{"line 2: certificate.names:", "(certificate.names takes a list)", `    2 | names = "a.example"`}},
		{"syntax", "[ca]\nurl = letsencrypt\n", 2, []string{"toml: line 2", "At line 2", "url = letsencrypt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != tc.line {
				t.Fatalf("Parse: %v (%T), want a SyntaxError at line %d", err, err, tc.line)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}
