package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/certkeeper/certkeeper/autotls"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
)

// runServe is "certkeeper serve": an HTTPS server in one command, a
// reverse proxy or a static file server, with certificates obtained and
// renewed through autotls (tls-alpn-01 on the HTTPS listener, http-01 and
// the redirect to HTTPS on the HTTP one).
func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("serve", env)
	var (
		c         common
		names     listFlag
		onDemand  listFlag
		proxy     = fs.String("proxy", "", "reverse-proxy every request to this URL (e.g. http://127.0.0.1:8080)")
		root      = fs.String("root", "", "serve the static files of this directory")
		httpsAddr = fs.String("https-addr", ":443", "address of the HTTPS listener, which also answers tls-alpn-01")
		httpAddr  = fs.String("http-addr", ":80", "address of the HTTP listener (http-01 and redirect to HTTPS); - for none")
		keyType   = fs.String("key-type", "ec256", "certificate key type: ec256, ec384, rsa2048, rsa3072, rsa4096")
		defName   = fs.String("default-name", "", "certificate for clients that send no server name (default: the first -d)")
	)
	c.register(fs, env)
	fs.Var(&names, "d", "a name to serve and keep a certificate for; repeatable or comma-separated")
	fs.Var(&onDemand, "on-demand", "also obtain certificates at the first handshake for names matching these patterns (a.example.com, *.example.com); repeatable")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: certkeeper serve -d NAME... (-proxy URL | -root DIR) [flags]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
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
	kt, err := keys.ParseType(*keyType)
	if err != nil {
		return usageError{err.Error()}
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
	log.InfoContext(ctx, "serving HTTPS", "names", names, "https", *httpsAddr, "http", *httpAddr)
	return autotls.ListenAndServe(ctx, cfg, handler)
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
