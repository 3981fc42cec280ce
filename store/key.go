package store

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is wrapped by every error that rejects a key, a key
// prefix or a name that cannot be turned into a key.
var ErrInvalidKey = errors.New("store: invalid key")

// Limits on keys, chosen to fit every common file system.
const (
	// MaxKeyLen is the longest key ValidateKey accepts, in bytes.
	MaxKeyLen = 1024
	// MaxComponentLen is the longest component (the text between two
	// slashes) ValidateKey accepts, in bytes: the NAME_MAX of most file
	// systems.
	MaxComponentLen = 255
)

// ValidateKey reports whether key may be used with a Store. The rules are
// deliberately narrow so that a key names the same file on every platform
// and can never reach outside a backend's namespace:
//
//   - the key is 1 to MaxKeyLen bytes of slash-separated components;
//   - no component is empty (so no leading, trailing or doubled slash and
//     no absolute path) or longer than MaxComponentLen bytes;
//   - every byte is an ASCII letter or digit or one of - _ . @ + = ;
//     anything else (backslash, colon, NUL and other control characters,
//     spaces, '*', and every non-ASCII rune, including look-alikes such as
//     fullwidth letters and bidi overrides) is rejected;
//   - no component begins with '.': this excludes "." and ".." and
//     reserves dot-names for a backend's own bookkeeping (Dir keeps its
//     temporary and lock files under such names, and List never returns
//     them).
//
// Internationalised domain names must be given in their ASCII (punycode,
// "xn--") form. Wildcard names are not keys; Certs encodes them (see
// EncodeName). The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes long, more than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			if !keyByte(key[i]) {
				return fmt.Errorf("%w: %q: byte %#x at offset %d is not allowed (ASCII letters, digits and - _ . @ + = only)", ErrInvalidKey, key, key[i], i)
			}
			continue
		}
		if err := validComponent(key, key[start:i]); err != nil {
			return err
		}
		start = i + 1
	}
	return nil
}

func validComponent(key, c string) error {
	switch {
	case c == "":
		return fmt.Errorf("%w: %q: empty component (leading, trailing or doubled slash)", ErrInvalidKey, key)
	case len(c) > MaxComponentLen:
		return fmt.Errorf("%w: %q: component of %d bytes, more than %d", ErrInvalidKey, key, len(c), MaxComponentLen)
	case c[0] == '.':
		return fmt.Errorf("%w: %q: component %q begins with '.'", ErrInvalidKey, key, c)
	}
	return nil
}

// keyByte reports whether b may appear in a key component.
func keyByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-_.@+=", b) >= 0
}

// validatePrefix checks a List prefix: "" or a key, optionally followed
// by a slash.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// validateLockName checks a lock name. Lock names are not keys (Dir
// hashes them into a file name), so any non-empty string of modest length
// will do.
func validateLockName(name string) error {
	if name == "" || len(name) > MaxKeyLen {
		return fmt.Errorf("%w: lock name must be 1 to %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	return nil
}
