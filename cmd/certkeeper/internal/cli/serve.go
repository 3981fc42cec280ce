package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"syscall"

	"github.com/certkeeper/certkeeper/autotls"
	"github.com/certkeeper/certkeeper/issue"
)

// runServe is "certkeeper serve": an HTTPS server in one command, a
// reverse proxy or a static file server, with certificates obtained and
// renewed through autotls (tls-alpn-01 on the HTTPS listener, http-01 and
// the redirect to HTTPS on the HTTP one).
func serveCommand() command {
	return command{
		name: "serve", summary: "serve HTTPS (reverse proxy or files) with automatic certificates",
		args: "-d NAME... (-proxy URL | -root DIR)",
		about: `An HTTPS server in one command, a reverse proxy or a static file server,
with certificates obtained and renewed as it runs (tls-alpn-01 on the
-tls-listen address, http-01 and the redirect to HTTPS on -http-listen).`,
		examples: []string{
			"certkeeper serve -ca letsencrypt -email me@example.com -agree-tos -d example.com -proxy http://127.0.0.1:8080",
			"certkeeper serve -d example.com -d www.example.com -root /var/www/html",
			"certkeeper serve -tls-listen :8443 -http-listen - -d example.com -root .",
		},
		setup: setupServe,
	}
}

func setupServe(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var (
		c        common
		names    listFlag
		onDemand listFlag
	)
	fs.List(&names, "domain", "a name to serve and keep a certificate for; repeatable or comma-separated", alias("d"))
	proxy := fs.StringP("proxy", "", "reverse-proxy every request to this URL (e.g. http://127.0.0.1:8080)")
	root := fs.StringP("root", "", "serve the static files of this directory")
	httpsAddr := fs.StringP("tls-listen", ":443", "address of the HTTPS listener, which also answers tls-alpn-01")
	httpAddr := fs.StringP("http-listen", ":80", "address of the HTTP listener (http-01 and redirect to HTTPS); - for none")
	fs.Deprecated("https-addr", "tls-listen", nil)
	fs.Deprecated("http-addr", "http-listen", nil)
	keyType := fs.StringP("key-type", "ec256", "certificate key type: ec256, ec384, rsa2048, rsa3072, rsa4096")
	defName := fs.StringP("default-name", "", "certificate for clients that send no server name (default: the first -d)")
	fs.List(&onDemand, "on-demand", "also obtain certificates at the first handshake for names matching these patterns (a.example.com, *.example.com); repeatable")
	c.register(fs, env, useCA|useStore|useAccount)
	return func(ctx context.Context, pos []string) error {
		var err error
		names = append(names, pos...)
		if len(names) == 0 && len(onDemand) == 0 {
			return usagef("give at least one name with -d (or patterns with -on-demand)")
		}
		if (*proxy == "") == (*root == "") {
			return usagef("give exactly one of -proxy URL and -root DIR")
		}
		if _, err := issue.ParseIdentifiers(names...); len(names) > 0 && err != nil {
			return usageError{err.Error()}
		}
		kt, err := parseKeyType("key-type", *keyType)
		if err != nil {
			return err
		}
		handler, err := serveHandler(*proxy, *root)
		if err != nil {
			return err
		}

		log := c.logger()
		ca, err := c.directoryURL()
		if err != nil {
			return err
		}
		acct, err := c.accountOptions()
		if err != nil {
			return err
		}
		// The engine of obtain, renew and the daemon: nothing at start needs
		// the CA, the account is loaded or registered at the first order.
		eng, err := c.openEngine(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		cl, err := eng.Client(ca, c.caRootPath())
		if err != nil {
			return err
		}
		cfg := &autotls.Config{
			Manager:   eng.Manager(),
			Names:     names,
			Issuer:    &issue.Issuer{Client: cl, Accounts: eng.AccountSource(ca, c.caRootPath(), acct), Logger: log},
			KeyType:   kt,
			HTTPSAddr: *httpsAddr,
			HTTPAddr:  *httpAddr,
			Logger:    log,
		}
		switch {
		case *defName != "":
			cfg.DefaultServerName = *defName
		case len(names) > 0:
			cfg.DefaultServerName = names[0]
		}
		if len(onDemand) > 0 {
			cfg.OnDemand = &autotls.OnDemandPolicy{Allow: onDemand}
		}
		if err := cfg.Validate(); err != nil {
			return usageError{err.Error()}
		}
		err = autotls.ListenAndServe(ctx, cfg, handler)
		var le *autotls.ListenError
		if errors.As(err, &le) {
			flag := map[string]string{"HTTPSAddr": "-tls-listen", "HTTPAddr": "-http-listen"}[le.Setting]
			if errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EACCES) {
				return errors.New(le.Message(flag)) // says all; the error's text would repeat it
			}
			return fmt.Errorf("%s: %w", le.Message(flag), le.Err)
		}
		return err
	}
}

// serveHandler is the reverse proxy to target, or the file server of root
// (inside root only, no dotfiles, no listings): autotls's handlers, which
// set or strip every forwarding header and stay inside the root.
func serveHandler(target, root string) (http.Handler, error) {
	if root != "" {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, usagef("-root %s is not a directory", root)
		}
		return autotls.FileServer(root, autotls.FileServerOptions{})
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("-proxy %q is not an http:// or https:// URL", target)
	}
	return autotls.ReverseProxy(u), nil
}
