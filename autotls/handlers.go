package autotls

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// CipherSuites are the TLS 1.2 cipher suites TLSConfig allows: ECDHE key
// exchange (forward secrecy) with an AEAD cipher only, no CBC, RC4, 3DES
// or static RSA key exchange. TLS 1.3, preferred by every current client,
// has its own fixed suites (AES-GCM and ChaCha20-Poly1305). TLS 1.0 and
// 1.1 are refused.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Limits of the servers of Serve and ListenAndServe.
const (
	// DefaultMaxBodyBytes bounds a request body when
	// Config.MaxBodyBytes is zero: a longer one fails to read
	// (413 from a handler that reports it, such as ReverseProxy's).
	DefaultMaxBodyBytes = 32 << 20
	// DefaultReadTimeout bounds the reading of a whole request, body
	// included, when Config.ReadTimeout is zero, so that a body trickled
	// a byte at a time does not hold a connection open.
	DefaultReadTimeout = time.Minute
	// maxHeaderBytes bounds request headers.
	maxHeaderBytes = 64 << 10
)

// forwardingHeaders are the headers by which a proxy tells a backend who
// the client is. ReverseProxy drops every one the client sent and sets
// its own (X-Forwarded-For, -Host, -Proto and X-Real-IP).
var forwardingHeaders = []string{
	"Forwarded",
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
	"X-Forwarded-Server", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme",
	"X-Real-IP", "X-Client-IP", "X-Cluster-Client-IP", "True-Client-IP", "CF-Connecting-IP",
	"Fastly-Client-IP", "X-Original-URL", "X-Rewrite-URL", "X-Original-Host", "Front-End-Https",
	"X-Url-Scheme", "X-ProxyUser-IP",
}

// ReverseProxy returns a reverse proxy to target for serving behind
// autotls: the backend sees the Host the client asked for, and the
// forwarding headers are the proxy's own: X-Forwarded-For (the client's
// address only), X-Forwarded-Host, X-Forwarded-Proto and X-Real-IP are
// set, and every other forwarding header a client may send (Forwarded,
// X-Forwarded-Port, X-Forwarded-Server, X-Client-IP, True-Client-IP, ...)
// is removed, so that a backend trusting them cannot be lied to.
func ReverseProxy(target *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			for _, h := range forwardingHeaders {
				r.Out.Header.Del(h)
			}
			r.SetURL(target)
			r.Out.Header.Del("X-Forwarded-For") // not appended to: replaced
			r.SetXForwarded()
			if ip, _, err := net.SplitHostPort(r.In.RemoteAddr); err == nil {
				r.Out.Header.Set("X-Real-IP", ip)
			}
			// The backend sees the name the client asked for.
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if isMaxBytes(err) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// FileServerOptions relax FileServer.
type FileServerOptions struct {
	// Listing lists directories that have no index.html. Default: 404.
	Listing bool
	// Dotfiles serves files and directories whose names begin with '.'
	// (.git, .env, .htpasswd). Default: 404.
	Dotfiles bool
}

// FileServer serves the files under dir and nothing outside it: every
// access goes through os.Root, so a symbolic link leading out of dir is
// not followed, and ".." cannot climb out. Without opts, dotfiles and
// directory listings are not served (404).
func FileServer(dir string, opts FileServerOptions) (http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	fsys := root.FS()
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		if !opts.Dotfiles {
			for _, seg := range strings.Split(p, "/") {
				if strings.HasPrefix(seg, ".") {
					http.NotFound(w, r)
					return
				}
			}
		}
		if !opts.Listing {
			name := strings.TrimPrefix(p, "/")
			if name == "" {
				name = "."
			}
			if fi, err := fs.Stat(fsys, name); err == nil && fi.IsDir() {
				if _, err := fs.Stat(fsys, path.Join(name, "index.html")); err != nil {
					http.NotFound(w, r)
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	}), nil
}

// HostGuard passes to next only the requests for a host this Config
// serves (a name in Names, one the Manager has a certificate for, one the
// OnDemand policy allows) and, over TLS, one the connection's certificate
// covers; others are answered 421 Misdirected Request, so that a backend
// never sees a Host that the certificate the client checked was not for.
// Serve applies it.
func (c *Config) HostGuard(next http.Handler) http.Handler {
	s, err := c.init()
	if err != nil {
		panic(err)
	}
	return s.hostGuard(next)
}

func (s *state) hostGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = normalizeSNI(host)
		ok := s.serves(r.Context(), host)
		if ok && r.TLS != nil && r.TLS.ServerName != "" && normalizeSNI(r.TLS.ServerName) != host {
			// HTTP/2 may reuse a connection for another name its
			// certificate covers; any other name is misdirected.
			ok = coveredBy(s, r.TLS.ServerName, host)
		}
		if !ok {
			http.Error(w, "misdirected request: this server does not serve that host", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// coveredBy reports whether the certificate served for sni also covers
// host.
func coveredBy(s *state, sni, host string) bool {
	cert := s.cfg.Manager.Lookup(sni)
	if cert == nil || cert.Leaf == nil {
		return false
	}
	return cert.Leaf.VerifyHostname(host) == nil
}

// limitBody bounds each request body to max bytes (none if max < 0).
func limitBody(max int64, next http.Handler) http.Handler {
	if max < 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// isMaxBytes reports whether err is a body over the limit.
func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}
