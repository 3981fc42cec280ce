package challenge

import (
	"strings"
	"testing"
)

func TestValidToken(t *testing.T) {
	good := []string{"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", "a", "A-_9", strings.Repeat("x", 256)}
	bad := []string{"", "../x", "a/b", "tok=en", "a.b", "a b", "é", "a\x00", strings.Repeat("x", 257), "..", "a+b"}
	for _, s := range good {
		if !ValidToken(s) {
			t.Errorf("ValidToken(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidToken(s) {
			t.Errorf("ValidToken(%q) = true", s)
		}
	}
}
