package acmetest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// no rejected nonces, no authorization reuse (but see AuthzReuse), ECDSA keys,
// and acmetest's own DNS server answering 127.0.0.1 for every name.
type PebbleOptions struct {
	// Binary is the path of the pebble executable, for instance one
	// installed with `go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1`.
	// "" means the one FindPebble names, kept in CacheDir, built on first
	// use (PebbleVersion with AuthzReuseFix).
	Binary string

	// CacheDir is where Pebble is built when Binary is "" (see
	// FindPebble). "" means PebbleCacheDir().
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
	// 0 reuses none with the Pebble StartPebble builds (AuthzReuseFix);
	// a Binary of the stock Pebble v2.10 still reuses about one in 100
	// (its check is rand.Intn(100) > AuthzReuse). A negative value keeps
	// Pebble's own default of 50%.
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
	ports     *portClaim // the validation ports handed out, until Close
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
		if binary, err = buildTestPebble(ctx, dir); err != nil {
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
	vports, claim, err := validationPorts(2)
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	started := false
	defer func() {
		if !started {
			claim.Close()
		}
	}()
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
	started, p.ports = true, claim
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
		p.ports.Close()
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

// Output returns the last part (up to 16 KiB) of Pebble's output, for
// failure messages.
func (p *Pebble) Output() string { return p.tail.String() }

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
