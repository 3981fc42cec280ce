package acmetest_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// getDirectory fetches and decodes an ACME directory.
func getDirectory(t *testing.T, client *http.Client, url string) map[string]any {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	var dir map[string]any
	if err := json.Unmarshal(body, &dir); err != nil {
		t.Fatalf("directory: %v: %s", err, body)
	}
	return dir
}

func TestPebbleDirectory(t *testing.T) {
	start := time.Now()
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{
		AlternateRoots: 1,
		Profiles: map[string]acmetest.Profile{
			"default":    {Description: "ninety days", ValidityPeriod: 90 * 24 * time.Hour},
			"shortlived": {Description: "six days", ValidityPeriod: 6 * 24 * time.Hour},
		},
	})
	t.Logf("pebble started in %v", time.Since(start))

	dir := getDirectory(t, p.HTTPClient(), p.DirectoryURL)
	for _, key := range []string{"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"} {
		u, _ := dir[key].(string)
		if !strings.HasPrefix(u, strings.TrimSuffix(p.DirectoryURL, "/dir")) {
			t.Errorf("directory %s = %q, want a URL on %s", key, u, p.DirectoryURL)
		}
	}
	meta, _ := dir["meta"].(map[string]any)
	profiles, _ := meta["profiles"].(map[string]any)
	if len(profiles) != 2 || profiles["shortlived"] != "six days" {
		t.Errorf("meta.profiles = %v", profiles)
	}

	// One default root and one alternate, each a self-signed CA.
	var n int
	for rest := p.RootsPEM(); ; n++ {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !c.IsCA {
			t.Fatalf("root %d: %v (IsCA=%v)", n, err, c != nil && c.IsCA)
		}
	}
	if n != 2 {
		t.Errorf("RootsPEM has %d roots, want 2", n)
	}
	if p.RootPEM(1) == nil || p.RootPEM(2) != nil {
		t.Errorf("RootPEM(1) = %v bytes, RootPEM(2) = %v bytes", len(p.RootPEM(1)), len(p.RootPEM(2)))
	}
	if len(p.IntermediatesPEM()) == 0 {
		t.Error("no intermediates")
	}
	if p.DNS == nil || p.DNSServer != p.DNS.Addr() {
		t.Errorf("DNS = %v, DNSServer = %q", p.DNS, p.DNSServer)
	}
	if p.HTTPPort == 0 || p.TLSPort == 0 || p.HTTPPort == p.TLSPort {
		t.Errorf("HTTPPort %d, TLSPort %d", p.HTTPPort, p.TLSPort)
	}

	// The default client does not trust Pebble's HTTPS certificate.
	if _, err := http.Get(p.DirectoryURL); err == nil {
		t.Error("plain http.Get trusted Pebble's certificate")
	}

	// SetRenewalInfo reaches the management interface, which answers 404
	// for a certificate Pebble never issued.
	if err := p.SetRenewalInfo(context.Background(), p.TLSRootPEM(), `{}`); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("SetRenewalInfo for an unknown certificate: %v, want a 404", err)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.HTTPClient().Get(p.DirectoryURL); err == nil {
		t.Error("Pebble still answers after Close")
	}
}

func TestStartPebbleBadBinary(t *testing.T) {
	_, err := acmetest.StartPebble(context.Background(), acmetest.PebbleOptions{Binary: "/nonexistent/pebble"})
	if err == nil {
		t.Fatal("StartPebble with a missing binary succeeded")
	}
}

// CertificateStatus of a serial Pebble never issued is fs.ErrNotExist
// (the revocation tests of engine and cli check issued ones).
func TestCertificateStatusUnknownSerial(t *testing.T) {
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	if _, _, err := p.CertificateStatus(t.Context(), "7e57"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CertificateStatus of a serial never issued: %v; want fs.ErrNotExist", err)
	}
}
