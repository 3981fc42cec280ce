//go:build ckmem_https

package main

import (
	"errors"
	"net/http"
)

// obtain is not linked in the https-only build.
func obtain(*http.Client, string, string, string) error {
	return errors.New("built with -tags ckmem_https: https only")
}
