package acmetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"time"
)

// waitReady polls the directory and then fetches the issuing roots and
// intermediates from the management interface.
func (p *Pebble) waitReady(ctx context.Context) error {
	client := p.HTTPClient()
	client.Timeout = 2 * time.Second
	delay := 5 * time.Millisecond
	for {
		err := p.fetchIssuers(ctx, client)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("pebble exited: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func (p *Pebble) fetchIssuers(ctx context.Context, client *http.Client) error {
	if _, err := get(ctx, client, p.DirectoryURL); err != nil {
		return err
	}
	var roots, inters [][]byte
	for i := 0; ; i++ {
		root, err := get(ctx, client, fmt.Sprintf("%s/roots/%d", p.ManagementURL, i))
		if errors.Is(err, errNotFound) && i > 0 {
			break
		}
		if err != nil {
			return err
		}
		inter, err := get(ctx, client, fmt.Sprintf("%s/intermediates/%d", p.ManagementURL, i))
		if err != nil {
			return err
		}
		roots, inters = append(roots, root), append(inters, inter)
	}
	p.roots, p.inters = roots, inters
	return nil
}

var errNotFound = errors.New("404 Not Found")

// maxResponseBody bounds what is read of a response of Pebble or of the
// server behind a FaultProxy: more than any directory, order or
// certificate chain holds (the acme package reads at most 1 MiB too).
const maxResponseBody = 1 << 20

// readBody reads r whole, or fails once it holds more than
// maxResponseBody bytes (a runaway server must not exhaust the test's
// memory).
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxResponseBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxResponseBody {
		return nil, fmt.Errorf("acmetest: response body larger than %d bytes", maxResponseBody)
	}
	return b, nil
}

func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "certkeeper-acmetest")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: %w", url, errNotFound)
	default:
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
}

// HTTPClient returns a new client that trusts Pebble's HTTPS certificate
// for its ACME and management interfaces (and nothing else).
func (p *Pebble) HTTPClient() *http.Client {
	return newTLSClient(p.tlsRoots)
}

// TLSRootPEM returns the PEM root that signs Pebble's own HTTPS
// certificate, for clients configured by file rather than by
// HTTPClient.
func (p *Pebble) TLSRootPEM() []byte { return bytes.Clone(p.tlsRoot) }

// RootsPEM returns Pebble's issuing roots in PEM, the default root first
// followed by the PebbleOptions.AlternateRoots alternates. Issued
// certificates chain to one of them.
func (p *Pebble) RootsPEM() []byte { return bytes.Join(p.roots, nil) }

// RootPEM returns the issuing root number i (0 is the default chain's),
// or nil if there is none.
func (p *Pebble) RootPEM(i int) []byte {
	if i < 0 || i >= len(p.roots) {
		return nil
	}
	return bytes.Clone(p.roots[i])
}

// Roots returns a pool of all of Pebble's issuing roots, to verify issued
// certificates.
func (p *Pebble) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, r := range p.roots {
		pool.AppendCertsFromPEM(r)
	}
	return pool
}

// IntermediatesPEM returns the intermediate that signs leaf certificates in
// each of Pebble's chains, in root order.
func (p *Pebble) IntermediatesPEM() []byte { return bytes.Join(p.inters, nil) }

// SetRenewalInfo makes Pebble answer ARI renewalInfo requests
// (draft-ietf-acme-ari) for the certificate certPEM, which Pebble must
// have issued, with the literal body response. The body is not checked, so
// malformed JSON may be used to test a client's error handling.
func (p *Pebble) SetRenewalInfo(ctx context.Context, certPEM []byte, response string) error {
	body, err := json.Marshal(struct {
		Certificate string
		ARIResponse string
	}{string(certPEM), response})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.ManagementURL+"/set-renewal-info/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "certkeeper-acmetest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.HTTPClient().Do(req)
	if err != nil {
		return fmt.Errorf("acmetest: set renewal info: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("acmetest: set renewal info: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

func newTLSClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// CertificateStatus asks Pebble's management interface
// (/cert-status-by-serial/) what it holds of the certificate with the
// given serial number (hexadecimal, as math/big's Text(16) writes it):
// status is "Valid" or "Revoked", and reason the CRL reason code
// (RFC 5280 §5.3.1) of a revocation that gave one, else nil. A serial
// Pebble never issued gives an error wrapping fs.ErrNotExist. For tests
// that check what a revocation did at the CA.
func (p *Pebble) CertificateStatus(ctx context.Context, serial string) (status string, reason *int, err error) {
	body, err := get(ctx, p.HTTPClient(), p.ManagementURL+"/cert-status-by-serial/"+url.PathEscape(serial))
	if errors.Is(err, errNotFound) {
		return "", nil, fmt.Errorf("acmetest: Pebble issued no certificate of serial %s: %w", serial, fs.ErrNotExist)
	}
	if err != nil {
		return "", nil, err
	}
	var st struct {
		Status string
		Reason *int
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", nil, fmt.Errorf("acmetest: Pebble's status of %s: %w", serial, err)
	}
	return st.Status, st.Reason, nil
}
