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
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Profile is one certificate profile offered by Pebble's directory
// (draft-ietf-acme-profiles).
type Profile struct {
	// Description is shown in the directory's meta.profiles object.
	Description string
	// ValidityPeriod is the lifetime of certificates issued under the
	// profile; 0 means Pebble's default (about 90 days). Rounded down to whole
	// seconds.
	ValidityPeriod time.Duration
	// PromoteCommonName makes Pebble copy the first identifier into the
	// subject common name.
	PromoteCommonName bool
}

// PebbleOptions configures a Pebble instance. The zero value starts a Pebble
// that validates promptly and deterministically: no random validation sleep,
// no rejected nonces, no authorization reuse, ECDSA keys, and acmetest's own
// DNS server answering 127.0.0.1 for every name.
type PebbleOptions struct {
	// Binary is the path of the pebble executable, for instance one
	// installed with `go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1`.
	// "" means the one BuildPebble keeps in CacheDir, built on first use.
	Binary string

	// CacheDir is where Pebble is built when Binary is "" (see
	// BuildPebble). "" means PebbleCacheDir().
	CacheDir string

	// HTTPPort and TLSPort are the ports on which Pebble connects to
	// validate http-01 and tls-alpn-01 challenges. 0 picks a free loopback
	// port; the chosen values are in Pebble.HTTPPort and Pebble.TLSPort.
	HTTPPort, TLSPort int

	// DNSServer is the host:port of the DNS server Pebble resolves every
	// name through (-dnsserver). "" starts an acmetest DNSServer, available
	// as Pebble.DNS and closed with the Pebble.
	DNSServer string

	// ValidationSleep keeps Pebble's random 0-15 s delay before each
	// validation. By default it is disabled (PEBBLE_VA_NOSLEEP=1).
	ValidationSleep bool

	// NonceRejectPercent is the share of valid nonces Pebble rejects as
	// badNonce (PEBBLE_WFE_NONCEREJECT). 0 rejects none; a negative value
	// keeps Pebble's own default of 5%.
	NonceRejectPercent int

	// AuthzReuse is the percentage chance that Pebble reuses a valid
	// authorization for an identifier in a new order (PEBBLE_AUTHZREUSE).
	// 0 never reuses; a negative value keeps Pebble's own default of 50%.
	AuthzReuse int

	// AlwaysValid makes Pebble mark every challenge valid without
	// contacting anything (PEBBLE_VA_ALWAYS_VALID).
	AlwaysValid bool

	// ChainLength is the number of intermediates in each issued chain
	// (PEBBLE_CHAIN_LENGTH). 0 means Pebble's default, 1.
	ChainLength int

	// AlternateRoots is the number of extra root hierarchies Pebble
	// creates, each offered as an alternate chain (PEBBLE_ALTERNATE_ROOTS).
	AlternateRoots int

	// OrdersPerPage is the page size of an account's orders list
	// (PEBBLE_WFE_ORDERS_PER_PAGE). 0 means Pebble's default, 3.
	OrdersPerPage int

	// EABRequired makes newAccount require external account binding
	// (RFC 8555 §7.3.4).
	EABRequired bool
	// EABKeys maps an EAB key ID to its base64url-encoded HMAC key.
	EABKeys map[string]string

	// Profiles are the certificate profiles offered. nil means Pebble's
	// single "default" profile.
	Profiles map[string]Profile

	// RetryAfterAuthz and RetryAfterOrder are the Retry-After values, in
	// seconds, that Pebble sends on pending authorizations and processing
	// orders. 0 sends none.
	RetryAfterAuthz, RetryAfterOrder int

	// KeyAlgorithm is "ecdsa" or "rsa", the key type of Pebble's roots,
	// intermediates and (when relevant) issued certificates. "" means
	// "ecdsa", which starts faster than Pebble's own default of "rsa".
	KeyAlgorithm string

	// CAAIdentities are the issuer domain names Pebble puts in the
	// directory's meta.caaIdentities. nil means Pebble's default,
	// pebble.letsencrypt.org.
	CAAIdentities []string

	// DomainBlocklist lists names Pebble refuses to issue for.
	DomainBlocklist []string

	// Strict runs Pebble with -strict (upcoming breaking API changes).
	Strict bool

	// Output receives Pebble's stdout and stderr. nil discards them.
	Output io.Writer

	// StartTimeout bounds how long StartPebble waits for Pebble to answer,
	// in addition to the context; it does not cover BuildPebble's build.
	// 0 means 30 s.
	StartTimeout time.Duration
}

// Pebble is a running Pebble process. Its exported fields must not be
// modified.
type Pebble struct {
	// DirectoryURL is the ACME directory (RFC 8555 §7.1.1).
	DirectoryURL string
	// ManagementURL is the base URL of Pebble's management interface
	// (roots, intermediates, set-renewal-info), without a trailing slash.
	ManagementURL string
	// HTTPPort and TLSPort are where Pebble connects to validate http-01
	// and tls-alpn-01 challenges: a test's solver must listen there.
	HTTPPort, TLSPort int
	// DNSServer is the address Pebble resolves names through.
	DNSServer string
	// DNS is the DNS server started for this Pebble, or nil when
	// PebbleOptions.DNSServer named another one.
	DNS *DNSServer

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error         // set before done is closed
	dir      string
	tlsRoots *x509.CertPool
	tlsRoot  []byte
	roots    [][]byte // issuing roots, index = Pebble root number
	inters   [][]byte // intermediates, index = Pebble chain number
	tail     *tailBuffer

	closeOnce sync.Once
	closeErr  error
}

// pebbleConfig mirrors the JSON configuration read by cmd/pebble.
type pebbleConfig struct {
	Pebble struct {
		ListenAddress                  string                   `json:"listenAddress"`
		ManagementListenAddress        string                   `json:"managementListenAddress"`
		HTTPPort                       int                      `json:"httpPort"`
		TLSPort                        int                      `json:"tlsPort"`
		Certificate                    string                   `json:"certificate"`
		PrivateKey                     string                   `json:"privateKey"`
		ExternalAccountBindingRequired bool                     `json:"externalAccountBindingRequired"`
		ExternalAccountMACKeys         map[string]string        `json:"externalAccountMACKeys,omitempty"`
		CAAIdentities                  []string                 `json:"caaIdentities,omitempty"`
		DomainBlocklist                []string                 `json:"domainBlocklist,omitempty"`
		KeyAlgorithm                   string                   `json:"keyAlgorithm"`
		Profiles                       map[string]pebbleProfile `json:"profiles,omitempty"`
		RetryAfter                     struct {
			Authz int `json:"authz"`
			Order int `json:"order"`
		} `json:"retryAfter"`
	} `json:"pebble"`
}

type pebbleProfile struct {
	Description       string `json:"description"`
	PromoteCommonName bool   `json:"promoteCommonName"`
	ValidityPeriod    uint64 `json:"validityPeriod"`
}

// StartPebble starts Pebble and returns once its ACME and management
// interfaces answer. ctx bounds the start-up only; the process runs until
// Close. Pebble listens on free 127.0.0.1 ports and serves HTTPS with a
// certificate that only Pebble.HTTPClient trusts.
func StartPebble(ctx context.Context, opts PebbleOptions) (*Pebble, error) {
	binary := opts.Binary
	if binary == "" {
		// Not under StartTimeout: a cold build takes 30-60 s.
		dir := opts.CacheDir
		if dir == "" {
			dir = PebbleCacheDir()
		}
		var err error
		if binary, err = BuildPebble(ctx, dir); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var dnsServer *DNSServer
	resolver := opts.DNSServer
	if resolver == "" {
		var err error
		if dnsServer, err = StartDNSServer(ctx); err != nil {
			return nil, err
		}
		resolver = dnsServer.Addr()
	}
	cert, err := newServerCert()
	if err != nil {
		dnsServer.closeIfNotNil()
		return nil, fmt.Errorf("acmetest: pebble TLS certificate: %w", err)
	}

	// A port picked free can be taken by someone else before Pebble binds
	// it: retry with new ports when Pebble exits before it is ready.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p, err := startPebbleOnce(ctx, binary, resolver, cert, opts)
		if err == nil {
			p.DNS = dnsServer
			return p, nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) || ctx.Err() != nil {
			break
		}
	}
	dnsServer.closeIfNotNil()
	return nil, lastErr
}

var errAddrInUse = errors.New("address already in use")

func startPebbleOnce(ctx context.Context, binary, resolver string, cert *serverCert, opts PebbleOptions) (*Pebble, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	vports, err := validationPorts(2)
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	httpPort, tlsPort := opts.HTTPPort, opts.TLSPort
	if httpPort == 0 {
		httpPort = vports[0]
	}
	if tlsPort == 0 {
		tlsPort = vports[1]
	}
	dir, err := os.MkdirTemp("", "acmetest-pebble-")
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	p := &Pebble{
		DirectoryURL:  fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0]),
		ManagementURL: fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
		HTTPPort:      httpPort,
		TLSPort:       tlsPort,
		DNSServer:     resolver,
		done:          make(chan struct{}),
		dir:           dir,
		tlsRoots:      x509.NewCertPool(),
		tlsRoot:       cert.rootPEM,
		tail:          &tailBuffer{max: 16 << 10},
	}
	p.tlsRoots.AppendCertsFromPEM(cert.rootPEM)

	var cfg pebbleConfig
	c := &cfg.Pebble
	c.ListenAddress = fmt.Sprintf("127.0.0.1:%d", ports[0])
	c.ManagementListenAddress = fmt.Sprintf("127.0.0.1:%d", ports[1])
	c.HTTPPort, c.TLSPort = httpPort, tlsPort
	c.Certificate = filepath.Join(dir, "cert.pem")
	c.PrivateKey = filepath.Join(dir, "key.pem")
	c.ExternalAccountBindingRequired = opts.EABRequired
	c.ExternalAccountMACKeys = opts.EABKeys
	c.CAAIdentities = opts.CAAIdentities
	c.DomainBlocklist = opts.DomainBlocklist
	c.KeyAlgorithm = opts.KeyAlgorithm
	if c.KeyAlgorithm == "" {
		c.KeyAlgorithm = "ecdsa"
	}
	if len(opts.Profiles) > 0 {
		c.Profiles = make(map[string]pebbleProfile, len(opts.Profiles))
		for name, pr := range opts.Profiles {
			c.Profiles[name] = pebbleProfile{
				Description:       pr.Description,
				PromoteCommonName: pr.PromoteCommonName,
				ValidityPeriod:    uint64(pr.ValidityPeriod / time.Second),
			}
		}
	}
	c.RetryAfter.Authz, c.RetryAfter.Order = opts.RetryAfterAuthz, opts.RetryAfterOrder
	cfgJSON, err := json.MarshalIndent(&cfg, "", "  ")
	if err != nil {
		p.removeDir()
		return nil, fmt.Errorf("acmetest: pebble config: %w", err)
	}
	for name, data := range map[string][]byte{
		"cert.pem": cert.certPEM, "key.pem": cert.keyPEM, "pebble-config.json": cfgJSON,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			p.removeDir()
			return nil, fmt.Errorf("acmetest: %w", err)
		}
	}

	args := []string{"-config", filepath.Join(dir, "pebble-config.json"), "-dnsserver", resolver}
	if opts.Strict {
		args = append(args, "-strict")
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = pebbleEnv(opts)
	var out io.Writer = p.tail
	if opts.Output != nil {
		out = io.MultiWriter(opts.Output, p.tail)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		p.removeDir()
		return nil, fmt.Errorf("acmetest: start pebble: %w", err)
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	if err := p.waitReady(ctx); err != nil {
		p.Close()
		if strings.Contains(p.tail.String(), "address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return nil, fmt.Errorf("acmetest: pebble did not start: %w; output:\n%s", err, p.tail.String())
	}
	return p, nil
}

// pebbleEnv is the whole environment of the Pebble process.
func pebbleEnv(opts PebbleOptions) []string {
	env := []string{}
	if !opts.ValidationSleep {
		env = append(env, "PEBBLE_VA_NOSLEEP=1")
	}
	if opts.NonceRejectPercent >= 0 {
		env = append(env, "PEBBLE_WFE_NONCEREJECT="+strconv.Itoa(opts.NonceRejectPercent))
	}
	if opts.AuthzReuse >= 0 {
		env = append(env, "PEBBLE_AUTHZREUSE="+strconv.Itoa(opts.AuthzReuse))
	}
	if opts.AlwaysValid {
		env = append(env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	if opts.ChainLength > 0 {
		env = append(env, "PEBBLE_CHAIN_LENGTH="+strconv.Itoa(opts.ChainLength))
	}
	if opts.AlternateRoots > 0 {
		env = append(env, "PEBBLE_ALTERNATE_ROOTS="+strconv.Itoa(opts.AlternateRoots))
	}
	if opts.OrdersPerPage > 0 {
		env = append(env, "PEBBLE_WFE_ORDERS_PER_PAGE="+strconv.Itoa(opts.OrdersPerPage))
	}
	return env
}

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
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
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

// Close stops Pebble, waits for it to exit, removes its temporary files and
// closes the DNS server it started. It is safe to call more than once.
func (p *Pebble) Close() error {
	p.closeOnce.Do(func() {
		if p.cmd != nil && p.cmd.Process != nil {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
			}
			<-p.done
		}
		p.removeDir()
		if p.DNS != nil {
			p.closeErr = p.DNS.Close()
		}
	})
	return p.closeErr
}

func (p *Pebble) removeDir() {
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
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

// Output returns the last part (up to 16 KiB) of Pebble's output, for
// failure messages.
func (p *Pebble) Output() string { return p.tail.String() }

func newTLSClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// The validation ports handed out by this process.
var (
	validationMu    sync.Mutex
	validationGiven = map[int]bool{}
)

// validationPorts returns n distinct TCP ports that were free on
// 127.0.0.1, for Pebble to validate challenges on. They stay unbound
// until a test's solver binds them, possibly long after: so they are
// taken below the system's ephemeral port range, from which listeners on
// port 0 (another test's proxy or server) and outgoing connections draw
// theirs and could take them in between, and never twice by one process.
// Where that range leaves no room below it, they are picked as freePorts
// does.
func validationPorts(n int) ([]int, error) {
	const lo = 20000
	hi := ephemeralLow()
	if hi-lo < 1000 {
		return freePorts(n)
	}
	validationMu.Lock()
	defer validationMu.Unlock()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n && tries < 10000; tries++ {
		p := lo + rand.IntN(hi-lo)
		if validationGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		validationGiven[p] = true
		ports = append(ports, p)
	}
	if len(ports) < n {
		return freePorts(n)
	}
	return ports, nil
}

// ephemeralLow returns the first port of the system's ephemeral range
// (Linux's ip_local_port_range; else 32768, below both Linux's and the
// IANA range of 49152).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
