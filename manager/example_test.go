package manager_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
	"github.com/certkeeper/certkeeper/store"
)

// A Manager configured, given a certificate to keep, and asked what it
// holds before Run has done anything.
func Example() {
	m, err := manager.New(manager.Config{
		Store:       store.NewMemory(),
		PanicBefore: 7 * 24 * time.Hour,
		OnEvent:     func(ev manager.Event) { fmt.Println(ev.Type, ev.Name) },
	})
	if err != nil {
		log.Fatal(err)
	}
	ids, err := issue.ParseIdentifiers("www.example.com", "example.com")
	if err != nil {
		log.Fatal(err)
	}
	client := &acme.Client{DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory"}
	is := &issue.Issuer{Client: client /* Account and Solvers too */}
	if err := m.Manage(context.Background(), manager.Spec{Identifiers: ids, Issuer: is}); err != nil {
		log.Fatal(err)
	}
	// The store held nothing, so nothing is served until Run obtains it.
	fmt.Println(m.Lookup("www.example.com") == nil)
	for _, s := range m.Status() {
		fmt.Println(s.Name, s.Identifiers, s.NotAfter.IsZero())
	}
	// Output:
	// true
	// www.example.com [www.example.com example.com] true
}

// The usual wiring: run the Manager in the background, wait for the first
// pass, and serve what it holds.
func ExampleManager_Run() {
	ctx := context.Background()
	st, err := store.NewDir("/var/lib/certkeeper")
	if err != nil {
		log.Fatal(err)
	}
	m, err := manager.New(manager.Config{
		Store:  st,
		Logger: slog.Default(),
		Hooks:  []manager.Hook{{Command: "systemctl", Args: []string{"reload", "nginx"}}},
		// Hooks run as programs, with this process's environment less
		// its secrets: the manager itself starts none.
		HookRunner: exechook.New(os.Environ()),
	})
	if err != nil {
		log.Fatal(err)
	}
	// m.Manage(ctx, certificates...)
	go m.Run(ctx)
	if err := m.Ready(ctx); err != nil {
		log.Printf("some certificates could not be obtained: %v", err)
	}
	_ = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := m.Lookup(hello.ServerName); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}}
}
