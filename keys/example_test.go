package keys_test

import (
	"fmt"

	"github.com/certkeeper/certkeeper/keys"
)

func Example() {
	kt, _ := keys.ParseType("P-384")
	key, err := keys.Generate(kt)
	if err != nil {
		panic(err)
	}
	pemData, _ := keys.MarshalPEM(key)
	back, _ := keys.ParsePEM(pemData)
	t, _ := keys.TypeOf(back.Public())
	fmt.Println(t)
	// Output: ec384
}
