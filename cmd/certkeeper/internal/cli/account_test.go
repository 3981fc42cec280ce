package cli

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// decodeStrict decodes s into v, refusing keys v does not document, and
// checks that every key of want is present in each object.
func decodeStrict(t *testing.T, s string, v any, want []string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding into the documented shape: %v\n%s", err, s)
	}
	var raw any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatal(err)
	}
	objs := []any{raw}
	if a, ok := raw.([]any); ok {
		objs = a
	}
	for _, o := range objs {
		m, ok := o.(map[string]any)
		if !ok {
			t.Fatalf("not an object: %v", o)
		}
		for _, k := range want {
			if _, ok := m[k]; !ok {
				t.Errorf("key %q missing:\n%s", k, s)
			}
		}
		if len(m) != len(want) {
			t.Errorf("%d keys, want %d (%v):\n%s", len(m), len(want), want, s)
		}
	}
}

var accountKeys = []string{"ca", "id", "url", "status", "contact"}

// account update changes only what it is given; -account names the
// account apart from its contacts.
func TestAccountUpdateSemantics(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	base := []string{"-ca", e.ca(), "-ca-root", e.root, "-store", e.store}
	acct := func(args ...string) cliResult {
		return runCLI(t.Context(), append(append([]string{"account"}, args...), base...)...)
	}
	show := func() accountJSON {
		t.Helper()
		r := acct("show", "-account", "ops", "-json")
		var a accountJSON
		if r.code != ExitOK {
			t.Fatalf("%v", r)
		}
		decodeStrict(t, r.stdout, &a, accountKeys)
		return a
	}
	r := acct("register", "-account", "ops", "-email", "a@example.test", "-agree-tos", "-json")
	var reg accountJSON
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	decodeStrict(t, r.stdout, &reg, accountKeys)
	if reg.ID != "ops" || !slices.Equal(reg.Contact, []string{"mailto:a@example.test"}) {
		t.Errorf("register -account ops -email a@: %+v", reg)
	}

	// No flags: a usage error before anything is sent; nothing erased.
	e.proxy.mu.Lock()
	posts := len(e.proxy.posts)
	e.proxy.mu.Unlock()
	if r := acct("update", "-account", "ops"); r.code != ExitUsage || !strings.Contains(r.stderr, "-contact") {
		t.Errorf("update without flags: want exit 2 naming -contact; got %v", r)
	}
	e.proxy.mu.Lock()
	if n := len(e.proxy.posts); n != posts {
		t.Errorf("update without flags sent %d requests", n-posts)
	}
	e.proxy.mu.Unlock()
	if a := show(); !slices.Equal(a.Contact, []string{"mailto:a@example.test"}) {
		t.Errorf("contacts after an empty update: %v", a.Contact)
	}

	if r := acct("update", "-account", "ops", "-add-contact", "b@example.test"); r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	if a := show(); !slices.Equal(a.Contact, []string{"mailto:a@example.test", "mailto:b@example.test"}) {
		t.Errorf("after -add-contact: %v", a.Contact)
	}
	if r := acct("update", "-account", "ops", "-remove-contact", "mailto:a@example.test"); r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	if a := show(); !slices.Equal(a.Contact, []string{"mailto:b@example.test"}) {
		t.Errorf("after -remove-contact: %v", a.Contact)
	}
	if r := acct("update", "-account", "ops", "-remove-contact", "nobody@example.test"); r.code != ExitUsage {
		t.Errorf("-remove-contact of a contact the account has not: want exit 2; got %v", r)
	}
	// -contact replaces; the account keeps its name, its address changed.
	if r := acct("update", "-account", "ops", "-contact", "mailto:c@example.test", "-contact", "mailto:d@example.test"); r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	if a := show(); !slices.Equal(a.Contact, []string{"mailto:c@example.test", "mailto:d@example.test"}) || a.URL != reg.URL {
		t.Errorf("after -contact: %+v", a)
	}

	// An update the CA refuses (Pebble takes two contacts at most) is an
	// error, and changes nothing.
	if r := acct("update", "-account", "ops", "-add-contact", "mailto:f@example.test"); r.code == ExitOK || !strings.Contains(r.stderr, "contacts") {
		t.Errorf("an update the CA refuses: want an error; got %v", r)
	}
	if a := show(); !slices.Equal(a.Contact, []string{"mailto:c@example.test", "mailto:d@example.test"}) {
		t.Errorf("after a refused update: %v", a.Contact)
	}

	// Without -account or -email: the store's only account at the CA.
	if r := acct("update", "-remove-contact", "mailto:d@example.test", "-json"); r.code != ExitOK {
		t.Fatalf("update naming no account, the store holding one: %v", r)
	} else {
		var a accountJSON
		decodeStrict(t, r.stdout, &a, accountKeys)
		if a.ID != "ops" || a.URL != reg.URL || !slices.Equal(a.Contact, []string{"mailto:c@example.test"}) {
			t.Errorf("update naming no account: %+v, want ops with mailto:c@example.test", a)
		}
	}

	// account list: every account of the store, as text and JSON.
	if r := acct("register", "-email", "e@example.test", "-agree-tos"); r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	// Two accounts: naming none is an error, which changes nothing.
	if r := acct("update", "-add-contact", "mailto:d@example.test"); r.code == ExitOK || !strings.Contains(r.stderr, "certkeeper account list") {
		t.Errorf("update naming no account, the store holding two: %v", r)
	}
	r = acct("list", "-json")
	var list []accountJSON
	decodeStrict(t, r.stdout, &list, accountKeys)
	if len(list) != 2 || list[0].ID != "e@example.test" || list[1].ID != "ops" || list[0].CA != e.ca() {
		t.Errorf("account list -json: %+v", list)
	}
	r = acct("list")
	if r.code != ExitOK || !strings.Contains(r.stdout, "ACCOUNT") || !strings.Contains(r.stdout, "mailto:c@example.test") {
		t.Errorf("account list:\n%v", r)
	}
}

// account deactivate asks on a terminal; an answer other than yes
// changes nothing.
func TestAccountDeactivateAsks(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	e.must("account", "register")
	for _, answer := range []string{"n\n", "y\n"} {
		r := e.cmdEnv(Env{Stdin: strings.NewReader(answer), StdinTerminal: true}, "account", "deactivate")
		code, errb := r.code, r.stderr
		if !strings.Contains(errb, "Deactivate account admin@example.test") {
			t.Errorf("answer %q: no question on stderr: %q", answer, errb)
		}
		switch answer {
		case "n\n":
			if code == ExitOK || !strings.Contains(errb, "not confirmed") {
				t.Errorf("answer n: exit %d, %q", code, errb)
			}
			if out := e.must("account", "show"); !strings.Contains(out, "status:   valid") {
				t.Errorf("after answering n: %s", out)
			}
		default:
			if code != ExitOK || !strings.Contains(r.stdout, "deactivated account") {
				t.Errorf("answer y: exit %d, %q %q", code, r.stdout, errb)
			}
		}
	}
}

// account update without flags is refused before the store is opened:
// nothing is made, nothing sent.
func TestAccountUpdateNothingCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/store"
	for _, args := range [][]string{{"account", "update", "-store", dir}, {"account", "update", "-store", dir, "-account", "ops"}} {
		r := runCLI(t.Context(), append(args, "-ca", "https://127.0.0.1:1/dir")...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "nothing was changed") {
			t.Errorf("%v", r)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("account update without flags made the store: %v", err)
	}
}

// In the shared layout (client.key, no account URL stored), account
// deactivate is recorded too: list says deactivated, and register makes
// a new account, as in the directory layout.
func TestAccountDeactivateShared(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	first := e.must("account", "register", "-layout", "shared", "-json")
	e.must("account", "deactivate", "-layout", "shared", "-yes")
	if out := e.must("account", "list", "-layout", "shared"); !strings.Contains(out, "deactivated") {
		t.Errorf("account list after deactivate:\n%s", out)
	}
	second := e.must("account", "register", "-layout", "shared", "-json")
	var a, b struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(first), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(second), &b); err != nil {
		t.Fatal(err)
	}
	if a.URL == "" || b.URL == "" || a.URL == b.URL {
		t.Errorf("register after deactivate: %q then %q, want a new account", a.URL, b.URL)
	}
	if out := e.must("account", "list", "-layout", "shared"); strings.Contains(out, "deactivated") {
		t.Errorf("account list after the new registration:\n%s", out)
	}
}
