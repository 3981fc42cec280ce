package redact

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://user:pw@dns.example/hook?token=s3cret#x": "https://dns.example/…",
		"https://dns.example/hook?token=s3cret":           "https://dns.example/…",
		"https://dns.example":                             "https://dns.example",
		"https://dns.example/":                            "https://dns.example",
		"http://[::1]:80/%zz":                             "(unparsable URL)",
	} {
		if got := URL(raw); got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
	err := fmt.Errorf("webhook: %w", Err(&url.Error{Op: "Post", URL: "https://dns.example/x?token=s3cret", Err: fmt.Errorf("refused")}))
	if msg := err.Error(); strings.Contains(msg, "s3cret") {
		t.Errorf("Err kept the token: %s", msg)
	}
}
