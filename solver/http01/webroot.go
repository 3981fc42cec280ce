package http01

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/internal/atomicfile"
)

// Webroot solves http-01 by writing the key authorization to
// <Dir>/.well-known/acme-challenge/<token>, for a web server that serves
// Dir as the document root of the domain. It is safe for concurrent use.
type Webroot struct {
	// Dir is the web server's document root. Required.
	Dir string
}

var _ challenge.Solver = Webroot{}

// Present writes the response file atomically, mode 0644 so that a web
// server running as another user can read it, creating
// .well-known/acme-challenge below Dir (mode 0755) as needed. Dir itself
// must exist and be a directory: a mistyped Dir is an error wrapping
// fs.ErrNotExist, never a new directory tree the web server does not
// serve. It refuses a token that is not base64url, which could otherwise
// name a file outside the directory.
func (w Webroot) Present(ctx context.Context, chal acme.Challenge) error {
	path, err := w.path(chal)
	if err != nil {
		return err
	}
	if err := CheckWebroot(w.Dir); err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(w.Dir, ".well-known"), filepath.Dir(path)} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("http01 webroot: %w", err)
		}
	}
	if err := atomicfile.Write(path, []byte(chal.KeyAuthorization), 0o644); err != nil {
		return fmt.Errorf("http01 webroot: writing %s: %w", path, err)
	}
	return nil
}

// CleanUp removes the response file, and nothing else: the directories
// may be shared with other clients. A file already gone is not an error.
func (w Webroot) CleanUp(ctx context.Context, chal acme.Challenge) error {
	path, err := w.path(chal)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("http01 webroot: %w", err)
	}
	return nil
}

// CheckWebroot reports whether dir can be a Webroot's Dir: it must exist
// and be a directory. The error wraps fs.ErrNotExist when it does not
// exist.
func CheckWebroot(dir string) error {
	if dir == "" {
		return errors.New("http01 webroot: Dir is empty")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("http01 webroot: the document root must exist: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("http01 webroot: %s is not a directory", dir)
	}
	return nil
}

func (w Webroot) path(chal acme.Challenge) (string, error) {
	if w.Dir == "" {
		return "", errors.New("http01 webroot: Dir is empty")
	}
	if err := checkChallenge(chal); err != nil {
		return "", err
	}
	return filepath.Join(w.Dir, filepath.FromSlash(challenge.HTTP01Path(chal.Token))), nil
}

// checkChallenge refuses challenges no http-01 solver can serve.
func checkChallenge(chal acme.Challenge) error {
	if chal.Type != "" && chal.Type != acme.ChallengeHTTP01 {
		return fmt.Errorf("http01: cannot solve a %s challenge", chal.Type)
	}
	if !challenge.ValidToken(chal.Token) {
		return fmt.Errorf("http01: refusing token %q: not 1-256 base64url characters", chal.Token)
	}
	return nil
}
