package acme

import "testing"

func TestResolveDirectory(t *testing.T) {
	for in, want := range map[string]string{
		"letsencrypt":                      LetsEncryptURL,
		"LetsEncrypt-Staging":              LetsEncryptStagingURL,
		"https://CA.Example.TEST:443/dir":  "https://ca.example.test/dir",
		"https://127.0.0.1:14000/dir":      "https://127.0.0.1:14000/dir",
		"http://ca.example.test:80/a/dir/": "http://ca.example.test/a/dir/",
	} {
		got, err := ResolveDirectory(in)
		if err != nil || got != want {
			t.Errorf("ResolveDirectory(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "letsencrypt-prod", "ftp://ca.example.test/dir", "/dir", "https://user:pw@ca.example.test/dir", "https://ca.example.test/dir#x"} {
		if got, err := ResolveDirectory(in); err == nil {
			t.Errorf("ResolveDirectory(%q) = %q, want an error", in, got)
		}
	}
}
