package store

import (
	"fmt"
	"testing"
)

func TestNameSet(t *testing.T) {
	var s nameSet
	if s.has("certificates/a") {
		t.Fatal("the zero set has a member")
	}
	s.remove("certificates/a") // no panic on the zero set
	const n = 10000
	for i := range n {
		s.add(fmt.Sprintf("certificates/ca.example.test/c%d.example.test", i))
	}
	for i := range n {
		if !s.has(fmt.Sprintf("certificates/ca.example.test/c%d.example.test", i)) {
			t.Fatalf("member %d missing", i)
		}
		if s.has(fmt.Sprintf("certificates/ca.example.test/d%d.example.test", i)) {
			t.Fatalf("non-member %d found", i)
		}
	}
	s.remove("certificates/ca.example.test/c7.example.test")
	if s.has("certificates/ca.example.test/c7.example.test") || !s.has("certificates/ca.example.test/c8.example.test") {
		t.Error("remove took the wrong member")
	}
}
