package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
)

func doctorZones(t *testing.T) *bindtest.Server {
	return bindtest.Start(t, bindtest.Options{
		Keys: []bindtest.Key{{Name: "acme-key"}},
		Zones: []bindtest.Zone{
			{Name: "example.test", Records: []string{
				"www A 127.0.0.1",
				`allowed CAA 0 issue "pebble.letsencrypt.org"`,
				`refused CAA 0 issue "ca.other.example"`,
				"wild A 127.0.0.1",
				`wild CAA 0 issue "pebble.letsencrypt.org; validationmethods=dns-01"`,
				`wild CAA 0 issuewild ";"`,
				`critical CAA 128 future "x"`,
				"delegated A 127.0.0.1",
				"_acme-challenge.delegated CNAME d1.auth.other.test.",
				"_acme-challenge.loop CNAME _acme-challenge.loop.example.test.",
			}},
			{Name: "other.test"},
		},
	})
}

func port(t *testing.T, u string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDoctor(t *testing.T) {
	t.Parallel()
	b := doctorZones(t)
	e := newCLIEnv(t, acmetest.PebbleOptions{DNSServer: b.Addr})
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	base := []string{"doctor", "-resolver", b.Addr, "-ns-port", strconv.Itoa(b.Port), "-http-port", port(t, web.URL), "-tls-port", port(t, tlsSrv.URL)}

	code, out, errs := e.run(append(base, "www.example.test", "sub.allowed.example.test", "delegated.example.test", "wild.example.test")...)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("human output:\n%s", out)
	for _, want := range []string{
		"CAA identities: pebble.letsencrypt.org",
		"OK    resolve         www.example.test has 127.0.0.1",
		fmt.Sprintf("OK    zone            example.test., served by ns1.example.test. (127.0.0.1:%d)", b.Port),
		"OK    authoritative   1 server(s) agree: SOA serial 1, www.example.test A 127.0.0.1",
		"_acme-challenge.www.example.test. has no CNAME: the TXT record goes in zone example.test.",
		"no CAA record from www.example.test up to example.test.; the resolver refused to answer for test.",
		"CAA at allowed.example.test. (0 issue \"pebble.letsencrypt.org\") allows pebble.letsencrypt.org",
		"CNAME chain _acme-challenge.delegated.example.test. -> d1.auth.other.test.: the TXT record goes at d1.auth.other.test. in zone other.test.",
		"OK    http-01         HTTP answers on 127.0.0.1:" + port(t, web.URL) + " (HTTP/1.1 404 Not Found)",
		"OK    tls-alpn-01     TLS answers on 127.0.0.1:" + port(t, tlsSrv.URL),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// Problems: a refusing CAA, a refusing issuewild, a critical unknown
	// tag, a CNAME loop, closed ports. JSON for scripts.
	closed := strconv.Itoa(freeTCPPort(t))
	args := []string{"doctor", "-json", "-resolver", b.Addr, "-ns-port", strconv.Itoa(b.Port), "-http-port", closed, "-tls-port", closed,
		"refused.example.test", "*.wild.example.test", "critical.example.test", "loop.example.test", "www.example.test"}
	code, out, errs = e.run(args...)
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitError, out, errs)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.OK || len(rep.Names) != 5 || rep.CA != e.pebble.DirectoryURL {
		t.Fatalf("report %+v", rep)
	}
	status := func(name, check string) doctorCheck {
		for _, n := range rep.Names {
			if n.Name != name {
				continue
			}
			for _, c := range n.Checks {
				if c.Check == check {
					return c
				}
			}
		}
		t.Errorf("no %s check for %s", check, name)
		return doctorCheck{}
	}
	for _, tc := range []struct {
		name, check string
		status      checkStatus
		detail      string
	}{
		{"refused.example.test", "caa", statusFail, "has no issue property for pebble.letsencrypt.org"},
		{"*.wild.example.test", "caa", statusFail, "has no issuewild property"},
		{"*.wild.example.test", "http-01", statusSkip, "wildcard"},
		{"critical.example.test", "caa", statusFail, "unknown critical tag"},
		{"loop.example.test", "acme-challenge", statusFail, "CNAME loop"},
		{"www.example.test", "http-01", statusWarn, "nothing answers HTTP on 127.0.0.1:" + closed},
		{"www.example.test", "tls-alpn-01", statusWarn, "connection refused"},
	} {
		c := status(tc.name, tc.check)
		if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
			t.Errorf("%s %s: %s %q, want %s containing %q", tc.name, tc.check, c.Status, c.Detail, tc.status, tc.detail)
		}
	}
}

func TestDoctorUsage(t *testing.T) {
	t.Parallel()
	if r := runCLI(t.Context(), "doctor"); r.code != ExitUsage {
		t.Errorf("no names: exit %d, want %d (%s)", r.code, ExitUsage, r.stderr)
	}
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestCAAAllows(t *testing.T) {
	t.Parallel()
	caa := func(flag uint8, tag, value string) *dns.CAA {
		return &dns.CAA{Flag: flag, Tag: tag, Value: value}
	}
	ids := []string{"letsencrypt.org"}
	for _, tc := range []struct {
		set      []*dns.CAA
		wildcard bool
		want     bool
	}{
		{[]*dns.CAA{caa(0, "issue", "letsencrypt.org")}, false, true},
		{[]*dns.CAA{caa(0, "issue", "LetsEncrypt.org; accounturi=https://x/acct/1")}, false, true},
		{[]*dns.CAA{caa(0, "issue", "other.example")}, false, false},
		{[]*dns.CAA{caa(0, "issue", ";")}, false, false},
		{[]*dns.CAA{caa(0, "iodef", "mailto:a@b")}, false, true},
		{[]*dns.CAA{caa(0, "issue", "letsencrypt.org"), caa(0, "issuewild", ";")}, true, false},
		{[]*dns.CAA{caa(0, "issue", "other.example")}, true, false},
		{[]*dns.CAA{caa(0, "issue", "other.example"), caa(0, "issuewild", "letsencrypt.org")}, true, true},
		{[]*dns.CAA{caa(0, "issue", "letsencrypt.org"), caa(128, "tbs", "x")}, false, false},
		{[]*dns.CAA{caa(0, "issue", "letsencrypt.org"), caa(0, "tbs", "x")}, false, true},
	} {
		if got, why := caaAllows(tc.set, tc.wildcard, ids); got != tc.want {
			t.Errorf("caaAllows(%s, wildcard=%v) = %v (%s), want %v", describeCAA(tc.set), tc.wildcard, got, why, tc.want)
		}
	}
}
