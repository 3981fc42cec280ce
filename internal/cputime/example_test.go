package cputime_test

import (
	"fmt"

	"github.com/certkeeper/certkeeper/internal/cputime"
)

func ExampleUsed() {
	start := cputime.Used()
	sum := 0
	for i := range 1_000_000 {
		sum += i
	}
	fmt.Println(sum, cputime.Used() >= start)
	// Output: 499999500000 true
}
