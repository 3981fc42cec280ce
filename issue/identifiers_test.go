package issue

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/idna"

	"github.com/certkeeper/certkeeper/acme"
)

func TestParseIdentifier(t *testing.T) {
	tests := []struct {
		in   string
		want acme.Identifier
	}{
		{in: "www.example.com", want: acme.Identifier{Type: "dns", Value: "www.example.com"}},
		{in: "WWW.Example.COM.", want: acme.Identifier{Type: "dns", Value: "www.example.com"}},
		{in: "*.example.com", want: acme.Identifier{Type: "dns", Value: "*.example.com"}},
		{in: "*.Example.com.", want: acme.Identifier{Type: "dns", Value: "*.example.com"}},
		{in: "bücher.example", want: acme.Identifier{Type: "dns", Value: "xn--bcher-kva.example"}},
		{in: "1.example.com", want: acme.Identifier{Type: "dns", Value: "1.example.com"}},
		{in: "0x1.example.com", want: acme.Identifier{Type: "dns", Value: "0x1.example.com"}},
		{in: strings.Repeat("a", 63) + ".example.com", want: acme.Identifier{Type: "dns", Value: strings.Repeat("a", 63) + ".example.com"}},
		{in: "127.0.0.1", want: acme.Identifier{Type: "ip", Value: "127.0.0.1"}},
		{in: "0.0.0.0", want: acme.Identifier{Type: "ip", Value: "0.0.0.0"}},
		{in: "255.255.255.255", want: acme.Identifier{Type: "ip", Value: "255.255.255.255"}},
		{in: "::1", want: acme.Identifier{Type: "ip", Value: "::1"}},
		{in: "2001:DB8:0:0::1", want: acme.Identifier{Type: "ip", Value: "2001:db8::1"}},
		{in: "2001:0db8::0001", want: acme.Identifier{Type: "ip", Value: "2001:db8::1"}},
		{in: "64:ff9b::192.0.2.1", want: acme.Identifier{Type: "ip", Value: "64:ff9b::c000:201"}},
	}
	for _, tt := range tests {
		got, err := ParseIdentifier(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseIdentifier(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestParseIdentifierRefuses lists the family of malformed spellings, each
// with a word the error must contain so that the user learns what is wrong.
func TestParseIdentifierRefuses(t *testing.T) {
	tests := []struct{ in, why string }{
		// Brackets.
		{"[127.0.0.1", "brackets"},
		{"127.0.0.1]", "brackets"},
		{"[127.0.0.1]", "brackets"},
		{"[2001:db8::1]", "give the address alone (2001:db8::1)"},
		{"[[::1]]", "brackets"},
		{"[::1", "brackets"},
		{"[example.com]", "brackets"},
		// Zones.
		{"fe80::1%eth0", "zone"},
		{"fe80::1%25eth0", "zone"},
		{"[fe80::1%eth0]", "brackets"},
		// IPv4: leading zeros, octal, hexadecimal, short and integer forms.
		{"127.000.0.1", "leading zero"},
		{"127.0.0.01", "leading zero"},
		{"0177.0.0.1", "leading zero"},
		{"010.0.0.1", "leading zero"},
		{"0x7f.0.0.1", "hexadecimal"},
		{"127.0.0.0x1", "hexadecimal"},
		{"0x7f000001", "four decimal parts"},
		{"2130706433", "four decimal parts"},
		{"127.1", "four decimal parts"},
		{"127.0.1", "four decimal parts"},
		{"1.2.3.4.5", "four decimal parts"},
		{"256.0.0.1", "greater than 255"},
		{"1.2.3.999", "greater than 255"},
		{"example.123", "last label is a number"},
		{"example.0x1f", "last label is a number"},
		// Trailing dots on IPs.
		{"127.0.0.1.", "no trailing dot"},
		{"::1.", "trailing dot"},
		{"127.0.0.1..", "empty label"},
		// IPv4 in IPv6.
		{"::ffff:192.0.2.1", "IPv4-mapped"},
		{"::ffff:c000:201", "IPv4-mapped"},
		{"::192.0.2.1", "IPv4-compatible"},
		// Other IPv6 mistakes.
		{"2001:db8::1::2", "IPv6"},
		{"2001:db8:::1", "IPv6"},
		{"12345::1", "IPv6"},
		{"2001:db8::g", "IPv6"},
		{"example.com:443", "port"},
		{"127.0.0.1:443", "port"},
		{"1.2.3.4/24", "URL or path"},
		{"https://example.com", "URL"},
		// Spaces and control characters, anywhere.
		{"", "empty"},
		{" ", "space"},
		{" example.com", "space"},
		{"example.com ", "space"},
		{"exa mple.com", "space"},
		{"127.0.0.1 ", "space"},
		{" ::1", "space"},
		{"example.com\n", "white space"},
		{"\texample.com", "white space"},
		{"example.com\u00a0", "white space"},
		{"ex\x00ample.com", "not allowed"},
		{"ex\x7fample.com", "not allowed"},
		{"ex\xffample.com", "not allowed"},
		{"exam\u00adple.com", "invisible"},
		{"\ufeffexample.com", "invisible"},
		{"exa\u200bmple.com", "invisible"},
		// Empty labels.
		{".", "empty"},
		{"..", "empty label"},
		{".example.com", "empty label"},
		{"a..example.com", "empty label"},
		{"example.com..", "empty label"},
		// Overlong labels and names.
		{strings.Repeat("a", 64) + ".example.com", "longer than 63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "longer than the 253"},
		{"*." + strings.Repeat("abcdefghi.", 25) + "abcdefgh", "longer than the 253"},
		// Characters outside letters, digits, hyphens.
		{"a_b.example.com", "only letters, digits and hyphens"},
		{"-a.example.com", "hyphen"},
		{"a-.example.com", "hyphen"},
		{"user@example.com", "only letters"},
		{"example.com/../x", "URL or path"},
		{"exa\\mple.com", "only letters"},
		{"ab--cd.example.com", "reserved for IDNA"},
		{"xn--zz.example", "internationalised"},
		{"localhost", "two labels"},
		{"com", "two labels"},
		// Wildcards.
		{"*", "wildcard"},
		{"*.", "wildcard"},
		{"*..", "wildcard"},
		{"*.com", "top-level"},
		{"www.*.example.com", "leftmost"},
		{"*example.com", "leftmost"},
		{"w*.example.com", "leftmost"},
		{"**.example.com", "leftmost"},
		{"*.*.example.com", "leftmost"},
		{"example.*", "leftmost"},
		{"*.127.0.0.1", "wildcard cannot cover an IP"},
		{"*.::1", "wildcard cannot cover an IP"},
		{"*.0x7f", "wildcard cannot cover an IP"},
	}
	for _, tt := range tests {
		got, err := ParseIdentifier(tt.in)
		switch {
		case err == nil:
			t.Errorf("ParseIdentifier(%q) = %v, want an error about %q", tt.in, got, tt.why)
		case !errors.Is(err, ErrInvalidIdentifier):
			t.Errorf("ParseIdentifier(%q) error %v does not wrap ErrInvalidIdentifier", tt.in, err)
		case !strings.Contains(err.Error(), tt.why):
			t.Errorf("ParseIdentifier(%q) error %q does not say %q", tt.in, err, tt.why)
		}
		if _, err := ParseIdentifiers("example.com", tt.in); err == nil {
			t.Errorf("ParseIdentifiers(example.com, %q) accepted it", tt.in)
		}
	}
}

func TestParseIdentifiersDedup(t *testing.T) {
	ids, err := ParseIdentifiers("a.example.com", "A.example.com.", "b.example.com", "2001:db8::1", "2001:DB8:0::1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0].Value != "a.example.com" || ids[1].Value != "b.example.com" || ids[2].Value != "2001:db8::1" {
		t.Fatalf("got %v", ids)
	}
	if _, err := ParseIdentifiers(); err == nil {
		t.Fatal("no names: want an error")
	}
}

// TestPrecheckRefusesNonCanonical: an Identifier built by hand that
// ParseIdentifiers would not have produced never reaches the CA.
func TestPrecheckRefusesNonCanonical(t *testing.T) {
	for _, id := range []acme.Identifier{
		{Type: acme.IdentifierIP, Value: "[127.0.0.1"},
		{Type: acme.IdentifierIP, Value: "127.000.0.1"},
		{Type: acme.IdentifierIP, Value: "example.com"},
		{Type: acme.IdentifierDNS, Value: "127.0.0.1"},
		{Type: acme.IdentifierDNS, Value: "WWW.example.com"},
		{Type: acme.IdentifierDNS, Value: "www.example.com."},
		{Type: "email", Value: "a@example.com"},
	} {
		if err := checkCanonical(id); !errors.Is(err, ErrInvalidIdentifier) {
			t.Errorf("checkCanonical(%+v) = %v, want ErrInvalidIdentifier", id, err)
		}
	}
	for _, id := range []acme.Identifier{{Type: acme.IdentifierIP, Value: "127.0.0.1"}, {Type: acme.IdentifierDNS, Value: "*.example.com"}} {
		if err := checkCanonical(id); err != nil {
			t.Errorf("checkCanonical(%+v) = %v", id, err)
		}
	}
}

// FuzzParseIdentifier checks the property that whatever ParseIdentifier
// accepts is in canonical form: it parses back to itself, an address is
// its own netip text (RFC 5952 for IPv6), a name is lower-case LDH ASCII
// within the length limits whose IDNA round trip is itself.
func FuzzParseIdentifier(f *testing.F) {
	for _, s := range []string{
		"www.example.com", "*.example.com", "127.0.0.1", "::1", "bücher.example", "a..b", "\x00",
		"[127.0.0.1", "127.000.0.1", "0x7f.0.0.1", "::ffff:1.2.3.4", "fe80::1%eth0", "127.0.0.1.", "*.", "xn--bcher-kva.example",
		"EXAMPLE.com.", "２.example", "example。com", "*.1.2.3.4", "1.2.3.4 ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentifier(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidIdentifier) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidIdentifier", s, err)
			}
			return
		}
		again, err := ParseIdentifier(id.Value)
		if err != nil || again != id {
			t.Fatalf("%q -> %v, reparsed -> %v, %v", s, id, again, err)
		}
		if err := checkCanonical(id); err != nil {
			t.Fatalf("%q -> %v: %v", s, id, err)
		}
		switch id.Type {
		case acme.IdentifierIP:
			a, err := netip.ParseAddr(id.Value)
			if err != nil || a.String() != id.Value || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("%q -> IP %q is not canonical (%v, %v)", s, id.Value, a, err)
			}
		case acme.IdentifierDNS:
			v := strings.TrimPrefix(id.Value, "*.")
			if len(id.Value) > maxNameLen || strings.Contains(v, "*") || strings.HasSuffix(v, ".") {
				t.Fatalf("%q -> %q: bad length, wildcard or trailing dot", s, id.Value)
			}
			labels := strings.Split(v, ".")
			if len(labels) < 2 || isNumber(labels[len(labels)-1]) {
				t.Fatalf("%q -> %q: not a fully qualified name", s, id.Value)
			}
			for _, l := range labels {
				if err := checkLabel(l); err != nil {
					t.Fatalf("%q -> %q: %v", s, id.Value, err)
				}
			}
			u, err := idna.Lookup.ToUnicode(v)
			if err != nil {
				t.Fatalf("%q -> %q: no Unicode form: %v", s, id.Value, err)
			}
			if back, err := idnaProfile.ToASCII(u); err != nil || back != v {
				t.Fatalf("%q -> %q: Unicode %q gives back %q, %v", s, id.Value, u, back, err)
			}
		default:
			t.Fatalf("%q -> type %q", s, id.Type)
		}
	})
}

func TestNormalizeDNSNameRefusesIPv4(t *testing.T) {
	for _, n := range []string{"192.0.2.1", "10.0.0.1.", "*.0.0.127", "1.2.3.4.5", "a.0x10"} {
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
