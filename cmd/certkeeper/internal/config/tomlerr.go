package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// SyntaxError is a mistake in the file's TOML, or a value of the wrong
// kind for its key, explained in the file's terms: the line, the line
// itself, and for the usual slip between a table ([ca]) and an array of
// tables ([[certificate]]) the right form.
type SyntaxError struct {
	Line int    // 1-based; 0 if unknown
	Key  string // the key it is about, dotted; "" if unknown
	msg  string
	err  error // BurntSushi/toml's
}

func (e *SyntaxError) Error() string { return e.msg }
func (e *SyntaxError) Unwrap() error { return e.err }

// BurntSushi/toml reports a value of the wrong type for its Go field as
// a plain error: toml: line N (last key "K"): ...
var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeError explains err, an error of toml.Decode on data.
func decodeError(data []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// The one line (with the key), then where, as the file shows it.
		msg := pe.Error()
		if _, where, ok := strings.Cut(pe.ErrorWithPosition(), "\n\n"); ok {
			msg += "\n" + strings.TrimRight(where, "\n")
		}
		return &SyntaxError{Line: pe.Position.Line, Key: pe.LastKey, msg: msg, err: err}
	}
	m := typeErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	line, _ := strconv.Atoi(m[1])
	key, detail := m[2], m[3]
	src := sourceLine(data, line)
	want := keyKind(key)
	var msg string
	switch {
	case want == "array of tables" && strings.Contains(detail, "map[string"):
		msg = fmt.Sprintf("line %d: [%s] is one table, but %q takes an array of tables: write [[%s]] (double brackets), once for each", line, key, key, key)
	case want == "table" && strings.Contains(detail, "[]map[string"):
		msg = fmt.Sprintf("line %d: [[%s]] is an array of tables, but %q is one table: write [%s] (single brackets), once", line, key, key, key)
	default:
		msg = fmt.Sprintf("line %d: %s: %s", line, key, detail)
		if want != "" {
			msg += " (" + key + " takes " + article(want) + ")"
		}
	}
	if src != "" {
		msg += fmt.Sprintf("\n%5d | %s", line, src)
	}
	return &SyntaxError{Line: line, Key: key, msg: msg, err: err}
}

func article(kind string) string {
	if strings.HasPrefix(kind, "a") {
		return "an " + kind
	}
	return "a " + kind
}

// sourceLine is line n (1-based) of data, trimmed; "" if there is none.
func sourceLine(data []byte, n int) string {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[n-1])
}

// keyKind says what the dotted key takes in Config: "table", "array of
// tables", "list", "string", "number", "boolean", or "" when the key is
// unknown.
func keyKind(key string) string {
	t := reflect.TypeOf(file{})
	for _, part := range strings.Split(key, ".") {
		for t.Kind() == reflect.Pointer || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct) {
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
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()) {
		return "string" // a duration, say
	}
	switch t.Kind() {
	case reflect.Struct:
		return "table"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "array of tables"
		}
		return "list"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Float64, reflect.Uint, reflect.Int32, reflect.Uint16:
		return "number"
	}
	return ""
}

// fieldByTag finds the field of struct t that TOML names name (its toml
// tag, else its name in any case), looking into embedded structs.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			if g, ok := fieldByTag(f.Type, name); ok {
				return g, true
			}
			continue
		}
		if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
