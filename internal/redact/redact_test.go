package redact

import (
	"errors"
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

// A URL inside joined errors is redacted too.
func TestErrJoined(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "https://dns.example.test/hook?token=s3cret", Err: errors.New("refused")}
	err := Err(errors.Join(errors.New("first"), ue))
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the token is still in %q", err.Error())
	}
}
