package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/agnivade/levenshtein"
)

// UnknownKeyError is a key of the file that certkeeper does not know.
// Decoding the file fails with one per key, joined (errors.Join).
type UnknownKeyError struct {
	// Key is the key's full path, with the index of the array of tables
	// it is in where the file says: "certificate[1].key-typ".
	Key string
	// Line is its line in the file (1-based), 0 if unknown.
	Line int
	// Suggest is the known key of that table nearest to it ("" if none
	// is near): "email" for "emial".
	Suggest string
	// Table is the table where a top-level key belongs when it is a key
	// of that table ("solvers" for "http-listen"), else "".
	Table string
}

// Error reads "line 3: emial: unknown key (did you mean email?)".
func (e *UnknownKeyError) Error() string {
	msg := e.Key + ": unknown key"
	if e.Line > 0 {
		msg = fmt.Sprintf("line %d: %s", e.Line, msg)
	}
	switch {
	case e.Table != "":
		msg += " at the top level (it belongs in [" + e.Table + "])"
	case e.Suggest != "":
		msg += " (did you mean " + e.Suggest + "?)"
	}
	return msg
}

// FileError is an error of the file at Path: Load's, for one. Each line
// of Err's text (one a problem, errors.Join) is prefixed with Path.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string {
	lines := strings.Split(e.Err.Error(), "\n")
	for i, l := range lines {
		lines[i] = e.Path + ": " + l
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }

// undecoded reports the keys of the file (data) that no field took, those
// of the top-level table skip (the store backend's) left out, as
// *UnknownKeyErrors.
func undecoded(data []byte, md toml.MetaData, skip string) error {
	var errs []error
	seen := map[string]bool{}
	lines := keyLines(data)
	for _, k := range md.Undecoded() {
		if skip != "" && len(k) > 0 && k[0] == skip {
			continue
		}
		key := k.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		suggest, table := nearestKey(k), tableOf(k)
		found := false
		for _, kl := range lines {
			if kl.plain == key {
				found = true
				errs = append(errs, &UnknownKeyError{Key: kl.key, Line: kl.line, Suggest: suggest, Table: table})
			}
		}
		if !found {
			errs = append(errs, &UnknownKeyError{Key: key, Suggest: suggest, Table: table})
		}
	}
	return errors.Join(errs...)
}

// keyLine is where a key is given in the file: its path with the index
// of the array of tables it is in ("certificate[1].key-typ"), the same
// without ("certificate.key-typ") and its line.
type keyLine struct {
	key, plain string
	line       int
}

var (
	tableRE = regexp.MustCompile(`^\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$`)
	arrayRE = regexp.MustCompile(`^\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$`)
	keyRE   = regexp.MustCompile(`^([A-Za-z0-9_-]+|"[^"]*")\s*=`)
)

// keyLines finds the keys given in data line by line: bare or quoted
// keys in tables and arrays of tables of bare names. Dotted keys, inline
// tables and keys of multi-line values are not found (their errors have
// no line).
func keyLines(data []byte) []keyLine {
	var out []keyLine
	count := map[string]int{} // [[name]] headers so far
	prefix, plain := "", ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if m := arrayRE.FindStringSubmatch(line); m != nil {
			name := m[1]
			prefix, plain = fmt.Sprintf("%s[%d]", name, count[name]), name
			count[name]++
			continue
		}
		if m := tableRE.FindStringSubmatch(line); m != nil {
			prefix, plain = m[1], m[1]
			// A subtable of the last of an array of tables:
			// [certificate.solvers] after [[certificate]].
			if first, rest, ok := strings.Cut(m[1], "."); ok && count[first] > 0 {
				prefix = fmt.Sprintf("%s[%d].%s", first, count[first]-1, rest)
			}
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			k := strings.Trim(m[1], `"`)
			kl := keyLine{key: k, plain: k, line: i + 1}
			if prefix != "" {
				kl.key, kl.plain = prefix+"."+k, plain+"."+k
			}
			out = append(out, kl)
		}
	}
	return out
}

// nearestKey returns the known key of k's table nearest to k's last
// part, within an edit distance of 2 (1 for short keys), or "".
func nearestKey(k toml.Key) string {
	if len(k) == 0 {
		return ""
	}
	t := reflect.TypeOf(file{})
	for _, part := range k[:len(k)-1] {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			return ""
		}
		t = f.Type
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	name := k[len(k)-1]
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	best, bestD := "", limit+1
	for _, known := range tomlKeys(t) {
		if d := levenshtein.ComputeDistance(name, known); d < bestD {
			best, bestD = known, d
		}
	}
	return best
}

// tomlKeys are the keys the struct t takes (its fields' toml tags),
// those of embedded structs included.
func tomlKeys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case tag == "-" || !f.IsExported():
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, tomlKeys(f.Type)...)
		case tag != "":
			out = append(out, tag)
		default:
			out = append(out, strings.ToLower(f.Name))
		}
	}
	return out
}

// tableOf returns "solvers" when k is a top-level key that is a key of
// the [solvers] table (the command line's solver flags, such as
// http-listen, go there in a file), else "".
func tableOf(k toml.Key) string {
	if len(k) != 1 {
		return ""
	}
	for _, sk := range solverKeys {
		if sk.key == k[0] {
			return "solvers"
		}
	}
	return ""
}
