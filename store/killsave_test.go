package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// dying is a Dir whose writer dies before its write number at: that
// write and every later one fail and change nothing, as if the process
// had been killed there.
type dying struct {
	*Dir
	at, n int
}

var errDied = errors.New("writer died")

func (s *dying) write() error {
	s.n++
	if s.at > 0 && s.n >= s.at {
		return errDied
	}
	return nil
}

func (s *dying) Put(ctx context.Context, key string, value []byte) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.Put(ctx, key, value)
}

func (s *dying) Delete(ctx context.Context, key string) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.Delete(ctx, key)
}

func (s *dying) Symlink(ctx context.Context, key, target string) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.Symlink(ctx, key, target)
}

// topLevel reads the top-level files of a certificate directory as a web
// server configured with them does: it returns "" if none is there, the
// serial of the pair if cert.pem, key.pem and combined.pem are there and
// hold one pair, and an error otherwise.
func topLevel(dir string) (string, error) {
	var missing, present []string
	for _, f := range []string{"cert.pem", "key.pem", "combined.pem", "meta.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f)
		} else if err != nil {
			return "", err
		} else {
			present = append(present, f)
		}
	}
	if len(present) == 0 {
		return "", nil
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%q there, %q missing", present, missing)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return "", fmt.Errorf("cert.pem and key.pem: %w", err)
	}
	combined, err := os.ReadFile(filepath.Join(dir, "combined.pem"))
	if err != nil {
		return "", err
	}
	one, err := tls.X509KeyPair(combined, combined)
	if err != nil {
		return "", fmt.Errorf("combined.pem: %w", err)
	}
	if !bytes.Equal(one.Certificate[0], pair.Certificate[0]) {
		return "", errors.New("combined.pem holds another certificate than cert.pem")
	}
	return pair.Leaf.SerialNumber.Text(16), nil
}

// TestSaveAllOrNothingAtTheTop kills a save (a first one, a renewal, and
// the first one over an unversioned certificate) before each of its
// writes: the top-level files a web server reads are, right after the
// kill, the previous certificate's (or none, before the first save), or
// the new one's, never some missing or a mix; and the next save leaves
// them whole.
func TestSaveAllOrNothingAtTheTop(t *testing.T) {
	ctx := t.Context()
	const ca, name = "https://ca.test/dir", "a.test"
	ps := testPairs(t, 3, name)
	for _, sc := range []string{"first", "renewal", "unversioned"} {
		t.Run(sc, func(t *testing.T) {
			for at := 1; ; at++ {
				d := newTestDir(t)
				dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", name)
				c := &Certs{Store: d}
				switch sc {
				case "renewal":
					if err := c.SaveCertificate(ctx, Resource{Name: name, CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
						t.Fatal(err)
					}
				case "unversioned":
					os.MkdirAll(dir, 0o700)
					os.WriteFile(filepath.Join(dir, "key.pem"), ps[0].key, 0o600)
					os.WriteFile(filepath.Join(dir, "cert.pem"), ps[0].chain, 0o600)
					os.WriteFile(filepath.Join(dir, "combined.pem"), combine(ps[0].key, ps[0].chain), 0o600)
					os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"name":"`+name+`","ca":"`+ca+`"}`), 0o600)
				}
				before, err := topLevel(dir)
				if err != nil {
					t.Fatal(err)
				}
				s := &dying{Dir: d, at: at}
				err = (&Certs{Store: s}).SaveCertificate(ctx, Resource{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain})
				if err == nil {
					if at < 4 {
						t.Fatalf("a save of %d writes", at-1)
					}
					break // every write boundary done
				}
				if !errors.Is(err, errDied) {
					t.Fatalf("killed before write %d: %v", at, err)
				}
				got, err := topLevel(dir)
				if err != nil {
					t.Errorf("killed before write %d: top-level files: %v", at, err)
				}
				after := ""
				if err := (&Certs{Store: d}).SaveCertificate(ctx, Resource{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
					t.Fatal(err)
				}
				if after, err = topLevel(dir); err != nil || after == "" {
					t.Errorf("killed before write %d, then saved again: top-level files: %q, %v", at, after, err)
				}
				if got != before && got != after {
					t.Errorf("killed before write %d: top-level files hold %q, neither the previous certificate (%q) nor the new one (%q)", at, got, before, after)
				}
			}
		})
	}
}
