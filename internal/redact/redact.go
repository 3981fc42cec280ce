// Package redact keeps secrets that URLs carry out of messages.
package redact

import (
	"net/url"
)

// URL returns raw as it may appear in an error or a log: scheme and host
// only, with "/…" when there was more (userinfo, path, query or
// fragment), since any of them can hold a credential (a password, a
// ?token=, a webhook's secret path). An unparsable URL gives
// "(unparsable URL)".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" && u.Host == "" {
		return "(unparsable URL)"
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
		out += "/…"
	}
	return out
}

// Err rewrites the URL of every *url.Error in err's chain (the errors of
// net/http's client quote the whole URL, query included) with URL.
// It changes err in place and returns it; call it before wrapping err
// with fmt.Errorf, which formats the message at once.
func Err(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := err.(*url.Error); ok {
		ue.URL = URL(ue.URL)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }: // errors.Join, several %w
		for _, e := range u.Unwrap() {
			Err(e)
		}
	case interface{ Unwrap() error }:
		Err(u.Unwrap())
	}
	return err
}
