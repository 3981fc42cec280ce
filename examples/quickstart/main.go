// Command quickstart shows certkeeper end to end on one machine with
// nothing installed but Go: it starts Pebble, the Let's Encrypt test CA, on
// loopback (the version pinned in acmetest, built once into the user
// cache), then runs the real "certkeeper obtain" command against it, which
// registers an account,
// answers an http-01 challenge with its built-in server on 127.0.0.1 and
// stores the certificate; then "certkeeper list" shows it.
//
//	go run ./examples/quickstart [-store DIR] [NAME...]
//
// The examples are a module of their own (never published) so that the
// core module does not require the command's; go.work at the root
// makes the command above run from a clone.
package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func main() {
	storeDir := flag.String("store", "", "keep the store in this directory (default: a temporary one, removed at exit)")
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = []string{"demo.example.test", "www.demo.example.test"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *storeDir, names); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, storeDir string, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	fmt.Println("starting Pebble (the first run builds it; about 30 s)...")
	p, err := acmetest.StartPebble(ctx, acmetest.PebbleOptions{})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Printf("Pebble is at %s; it validates http-01 on 127.0.0.1:%d\n", p.DirectoryURL, p.HTTPPort)

	tmp, err := os.MkdirTemp("", "certkeeper-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if storeDir == "" {
		storeDir = filepath.Join(tmp, "store")
	}
	caRoot := filepath.Join(tmp, "pebble-api-root.pem")
	if err := os.WriteFile(caRoot, p.TLSRootPEM(), 0o644); err != nil {
		return err
	}

	env := command.Env{Stdout: os.Stdout, Stderr: os.Stderr}
	args := append([]string{"obtain",
		"-ca", p.DirectoryURL, "-ca-root", caRoot, "-store", storeDir,
		"-email", "admin@example.test", "-agree-tos",
		"-http-listen", fmt.Sprintf("127.0.0.1:%d", p.HTTPPort),
	}, names...)
	fmt.Printf("\n$ certkeeper %v\n", args)
	if code := command.Main(ctx, args, env); code != 0 {
		return fmt.Errorf("certkeeper obtain exited with %d", code)
	}
	listArgs := []string{"list", "-ca", p.DirectoryURL, "-store", storeDir}
	fmt.Printf("\n$ certkeeper %v\n", listArgs)
	if code := command.Main(ctx, listArgs, env); code != 0 {
		return fmt.Errorf("certkeeper list exited with %d", code)
	}

	// Check the stored chain the way a TLS client would.
	d, err := store.NewDir(storeDir)
	if err != nil {
		return err
	}
	res, err := (&store.Certs{Store: d}).LoadCertificate(ctx, p.DirectoryURL, names[0])
	if err != nil {
		return err
	}
	chain, err := keys.ParseCertificates(res.ChainPEM)
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: n, Roots: p.Roots(), Intermediates: inter}); err != nil {
			return fmt.Errorf("stored chain does not verify for %s: %w", n, err)
		}
	}
	fmt.Printf("\nverified: the stored chain for %v leads to Pebble's root %q\n", names, chain[len(chain)-1].Issuer.CommonName)
	return nil
}
