package issue

import (
	"errors"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
)

func TestParseIdentifier(t *testing.T) {
	tests := []struct {
		in      string
		want    acme.Identifier
		wantErr bool
	}{
		{in: "www.example.com", want: acme.Identifier{Type: "dns", Value: "www.example.com"}},
		{in: "WWW.Example.COM.", want: acme.Identifier{Type: "dns", Value: "www.example.com"}},
		{in: "*.example.com", want: acme.Identifier{Type: "dns", Value: "*.example.com"}},
		{in: "bücher.example", want: acme.Identifier{Type: "dns", Value: "xn--bcher-kva.example"}},
		{in: "127.0.0.1", want: acme.Identifier{Type: "ip", Value: "127.0.0.1"}},
		{in: "::1", want: acme.Identifier{Type: "ip", Value: "::1"}},
		{in: "[2001:db8::1]", want: acme.Identifier{Type: "ip", Value: "2001:db8::1"}},
		{in: "::ffff:192.0.2.1", want: acme.Identifier{Type: "ip", Value: "192.0.2.1"}},
		{in: "", wantErr: true},
		{in: "localhost", wantErr: true},
		{in: "a..example.com", wantErr: true},
		{in: "www.*.example.com", wantErr: true},
		{in: "*example.com", wantErr: true},
		{in: "**.example.com", wantErr: true},
		{in: "-a.example.com", wantErr: true},
		{in: "a_b.example.com", wantErr: true},
		{in: "exa mple.com", wantErr: true},
		{in: "example.com/../x", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: strings.Repeat("a", 64) + ".example.com", wantErr: true},
		{in: strings.Repeat("abcdefghi.", 26) + "com", wantErr: true},
		{in: "ex\x00ample.com", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseIdentifier(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseIdentifier(%q) = %v, want an error", tt.in, got)
			} else if !errors.Is(err, ErrInvalidIdentifier) {
				t.Errorf("ParseIdentifier(%q) error %v does not wrap ErrInvalidIdentifier", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseIdentifier(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseIdentifiersDedup(t *testing.T) {
	ids, err := ParseIdentifiers("a.example.com", "A.example.com.", "b.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].Value != "a.example.com" || ids[1].Value != "b.example.com" {
		t.Fatalf("got %v", ids)
	}
	if _, err := ParseIdentifiers(); err == nil {
		t.Fatal("no names: want an error")
	}
}

// FuzzParseIdentifier checks that whatever a user types either fails
// cleanly or yields an identifier that parses back to itself.
func FuzzParseIdentifier(f *testing.F) {
	for _, s := range []string{"www.example.com", "*.example.com", "127.0.0.1", "::1", "bücher.example", "a..b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentifier(s)
		if err != nil {
			return
		}
		again, err := ParseIdentifier(id.Value)
		if err != nil || again != id {
			t.Fatalf("%q -> %v, reparsed -> %v, %v", s, id, again, err)
		}
		if strings.ContainsAny(id.Value, "/\\\x00 ") {
			t.Fatalf("%q -> %q holds a forbidden character", s, id.Value)
		}
	})
}

func TestNormalizeDNSNameRefusesIPv4(t *testing.T) {
	for _, n := range []string{"192.0.2.1", "10.0.0.1.", "*.0.0.127", "1.2.3.4.5"} {
		if got, err := NormalizeDNSName(n); !errors.Is(err, ErrInvalidIdentifier) {
			t.Errorf("NormalizeDNSName(%q) = %q, %v; want ErrInvalidIdentifier", n, got, err)
		}
	}
	for _, n := range []string{"1.example.com", "123.456.example", "a.b2"} {
		if _, err := NormalizeDNSName(n); err != nil {
			t.Errorf("NormalizeDNSName(%q): %v", n, err)
		}
	}
	if id, err := ParseIdentifier("192.0.2.1"); err != nil || id.Type != acme.IdentifierIP {
		t.Errorf("ParseIdentifier(192.0.2.1) = %+v, %v", id, err)
	}
}
