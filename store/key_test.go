package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateKey(t *testing.T) {
	long := strings.Repeat("a", MaxComponentLen)
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"certificates/acme-v02.api.letsencrypt.org/www.example.com/cert.pem", true},
		{"accounts/127.0.0.1-14000/default/account.key", true},
		{"_wildcard_.example.com.pem", true},
		{"a@b+c=d_e-f.g", true},
		{"xn--bcher-kva.example", true},
		{long, true},
		{long + "/" + long, true},

		{"", false},
		{"/etc/passwd", false},
		{"../x", false},
		{"a/../../b", false},
		{"a/..", false},
		{"..", false},
		{".", false},
		{"./a", false},
		{"a/./b", false},
		{".hidden", false},
		{"a/.tmp-123", false},
		{"a/", false},
		{"a//b", false},
		{"a\\b", false},
		{"..\\..\\windows", false},
		{"C:", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"a b", false},
		{"*.example.com", false},
		{"ｅxample.com", false},                   // fullwidth e
		{"exa\u202emple.com", false},             // right-to-left override
		{"b\u00fccher.example", false},           // IDN not in punycode
		{"ex\u0430mple.com", false},              // Cyrillic a
		{"a\xffb", false},                        // not UTF-8
		{"a\u200bb", false},                      // zero-width space
		{long + "a", false},                      // component too long
		{strings.Repeat("a/", 512) + "a", false}, // key too long
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, does not wrap ErrInvalidKey", tt.key, err)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/../b", "/a", "a\\b", ".", "a//b", "\x00", "ｅ", "_wildcard_.x.pem"} {
		f.Add(s)
	}
	root := filepath.Join(string(filepath.Separator), "srv", "store")
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		p := filepath.Join(root, filepath.FromSlash(key))
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("accepted key %q escapes the root: %q", key, p)
		}
		if filepath.ToSlash(rel) != key {
			t.Fatalf("accepted key %q is not canonical: joins to %q", key, rel)
		}
		if !filepath.IsLocal(filepath.FromSlash(key)) {
			t.Fatalf("accepted key %q is not local", key)
		}
	})
}
