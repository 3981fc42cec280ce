// Command child is run by ckmem: "child https|obtain DIRECTORY-URL
// HTTP-PORT ROOT-PEM NAME" prints its resident set at the start of main
// and its peak, in kB.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	start := status("VmRSS:")
	if len(os.Args) != 6 {
		fatal(fmt.Errorf("usage: child https|obtain DIRECTORY-URL HTTP-PORT ROOT-PEM NAME"))
	}
	mode, dir, port, rootFile, name := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	pem, err := os.ReadFile(rootFile)
	if err != nil {
		fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	switch mode {
	case "https":
		resp, err := hc.Get(dir)
		if err != nil {
			fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	case "obtain":
		if err := obtain(hc, dir, port, name); err != nil {
			fatal(err)
		}
	default:
		fatal(fmt.Errorf("unknown mode %q", mode))
	}
	fmt.Println(start, status("VmHWM:"))
}

// status is a size field of /proc/self/status, in kB.
func status(field string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "child:", err)
	os.Exit(1)
}
