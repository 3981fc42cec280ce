package tlsalpn01

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/internal/atomicfile"
)

// NamePlaceholder is replaced in Files.CertPath and Files.KeyPath by the
// identifier, made safe as a file name.
const NamePlaceholder = "{name}"

// Files solves tls-alpn-01 through a TLS server that is not written in Go
// (nginx, HAProxy…): Present writes the validation certificate and its
// key as PEM files and calls Reload; CleanUp removes them and calls
// Reload again. Configure the server to serve these files to clients
// that offer acme-tls/1 (for example nginx's ssl_preread on
// $ssl_preread_alpn_protocols). Files must not be copied after first
// use. It is safe for concurrent use.
type Files struct {
	// CertPath and KeyPath are where the certificate and key are
	// written. Each may contain "{name}", replaced by the identifier
	// (lower case, characters other than letters, digits, "-" and "."
	// replaced by "_"; for example "www.example.com" or "2001_db8__1"),
	// which lets challenges for several names be presented at once.
	// Without it, a second challenge is refused while one is presented.
	// Missing directories are created. Required.
	CertPath, KeyPath string
	// Reload tells the server to read the files again. Nil means the
	// server reads them on its own.
	Reload func(ctx context.Context) error

	mu    sync.Mutex
	inUse map[string]*use // cert path → the challenge presented there
}

// use is the challenge whose files are at one path, and how many times it
// was presented.
type use struct {
	keyAuth string
	refs    int
}

var _ challenge.Solver = (*Files)(nil)

// Present writes the certificate (mode 0644) and the key (mode 0600)
// atomically, then calls Reload. If Reload fails the files are removed.
// The same challenge presented again (two orders sharing an
// authorization) keeps the files in place until each Present is cleaned
// up. Presents and clean-ups are run one at a time.
func (f *Files) Present(ctx context.Context, chal acme.Challenge) error {
	if chal.Type != "" && chal.Type != acme.ChallengeTLSALPN01 {
		return fmt.Errorf("tlsalpn01: cannot solve a %s challenge", chal.Type)
	}
	certPath, keyPath, err := f.paths(chal.Identifier)
	if err != nil {
		return err
	}
	cert, err := challenge.TLSALPN01Certificate(chal.Identifier, chal.KeyAuthorization)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("tlsalpn01 files: %w", err)
	}
	// The lock is held across the file operations so that a clean-up of
	// the last Present of a path cannot remove files a new Present has
	// just written.
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.inUse[certPath]; u != nil {
		if u.keyAuth != chal.KeyAuthorization {
			return fmt.Errorf("tlsalpn01 files: %s already holds another challenge's certificate; put %s in CertPath and KeyPath to present several at once", certPath, NamePlaceholder)
		}
		u.refs++
		return nil
	}

	err = writeBoth(certPath, keyPath,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err == nil && f.Reload != nil {
		if rerr := f.Reload(ctx); rerr != nil {
			err = fmt.Errorf("tlsalpn01 files: reload: %w", rerr)
		}
	}
	if err != nil {
		_ = removeBoth(certPath, keyPath)
		return err
	}
	if f.inUse == nil {
		f.inUse = make(map[string]*use)
	}
	f.inUse[certPath] = &use{keyAuth: chal.KeyAuthorization, refs: 1}
	return nil
}

// CleanUp removes the files and calls Reload, once every Present of the
// challenge has been cleaned up. A challenge that is not presented (never,
// or cleaned up already) changes nothing: the files may hold another
// challenge's certificate.
func (f *Files) CleanUp(ctx context.Context, chal acme.Challenge) error {
	certPath, keyPath, err := f.paths(chal.Identifier)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.inUse[certPath]
	if u == nil || u.keyAuth != chal.KeyAuthorization {
		return nil
	}
	if u.refs--; u.refs > 0 {
		return nil
	}
	delete(f.inUse, certPath)
	err = removeBoth(certPath, keyPath)
	if f.Reload != nil {
		if rerr := f.Reload(ctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("tlsalpn01 files: reload: %w", rerr))
		}
	}
	return err
}

func (f *Files) paths(id acme.Identifier) (certPath, keyPath string, err error) {
	if f.CertPath == "" || f.KeyPath == "" {
		return "", "", errors.New("tlsalpn01 files: CertPath and KeyPath are required")
	}
	name := SafeName(id.Value)
	if name == "" {
		return "", "", fmt.Errorf("tlsalpn01 files: invalid identifier %q", id.Value)
	}
	certPath = strings.ReplaceAll(f.CertPath, NamePlaceholder, name)
	keyPath = strings.ReplaceAll(f.KeyPath, NamePlaceholder, name)
	if filepath.Clean(certPath) == filepath.Clean(keyPath) {
		return "", "", errors.New("tlsalpn01 files: CertPath and KeyPath are the same file")
	}
	return certPath, keyPath, nil
}

// SafeName returns name made safe as one path element: lower case, every
// byte other than a-z, 0-9, "-" and "." replaced by "_", and a leading "."
// replaced by "_" so that the result is never "." or ".." or hidden. It
// returns "" for an empty name.
func SafeName(name string) string {
	if name == "" {
		return ""
	}
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.':
		default:
			b[i] = '_'
		}
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	return string(b)
}

func writeBoth(certPath, keyPath string, certPEM, keyPEM []byte) error {
	for _, p := range []string{certPath, keyPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("tlsalpn01 files: %w", err)
		}
	}
	// Both files are in place before Reload is called; each is replaced
	// atomically so that a server reading early never sees half a file.
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("tlsalpn01 files: writing key %s: %w", keyPath, err)
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("tlsalpn01 files: writing certificate %s: %w", certPath, err)
	}
	return nil
}

func removeBoth(certPath, keyPath string) error {
	var errs []error
	for _, p := range []string{certPath, keyPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("tlsalpn01 files: %w", err))
		}
	}
	return errors.Join(errs...)
}
