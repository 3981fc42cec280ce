package rfc2136

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ParseKeyFile reads the first key of a BIND key file, as written by
// "tsig-keygen -a hmac-sha256 acme-key":
//
//	key "acme-key" {
//		algorithm hmac-sha256;
//		secret "base64…";
//	};
func ParseKeyFile(data []byte) (Key, error) {
	s := stripComments(string(data))
	i := strings.Index(s, "key")
	if i < 0 {
		return Key{}, errors.New("rfc2136: no key statement in key file")
	}
	s = s[i+len("key"):]
	open := strings.IndexByte(s, '{')
	end := strings.IndexByte(s, '}')
	if open < 0 || end < open {
		return Key{}, errors.New("rfc2136: key statement has no { … } block")
	}
	k := Key{Name: strings.Trim(strings.TrimSpace(s[:open]), `"`)}
	for _, stmt := range strings.Split(s[open+1:end], ";") {
		f := strings.Fields(stmt)
		if len(f) != 2 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "algorithm":
			k.Algorithm = strings.Trim(f[1], `"`)
		case "secret":
			k.Secret = strings.Trim(f[1], `"`)
		}
	}
	switch {
	case k.Name == "":
		return Key{}, errors.New("rfc2136: key file: key has no name")
	case k.Secret == "":
		return Key{}, fmt.Errorf("rfc2136: key file: key %q has no secret", k.Name)
	}
	if _, err := base64.StdEncoding.DecodeString(k.Secret); err != nil {
		return Key{}, fmt.Errorf("rfc2136: key file: key %q: secret is not base64: %w", k.Name, err)
	}
	if _, err := k.algorithm(); err != nil {
		return Key{}, err
	}
	return k, nil
}

// stripComments removes #, // and /* */ comments.
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '#' || strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			i += j + 3
		}
		if i < len(s) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
