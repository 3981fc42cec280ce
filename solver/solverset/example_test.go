package solverset_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/certkeeper/certkeeper/solver/solverset"
)

// A Config read from a file (JSON here; the certkeeper daemon reads the
// same keys from TOML) is checked, stored as JSON (as in a lineage
// record), and built into solvers that Prepare checks before an order.
func Example() {
	webroot, _ := os.MkdirTemp("", "webroot")
	defer os.RemoveAll(webroot)
	file := fmt.Sprintf(`{
	"http01": {"webroot": %q},
	"dns01": {
		"provider": "rfc2136",
		"server": "ns1.example.com:53",
		"tsig_name": "acme-key",
		"tsig_algorithm": "hmac-sha512",
		"propagation_timeout": "5m"
	}
}`, webroot)
	var cfg solverset.Config
	if err := json.Unmarshal([]byte(file), &cfg); err != nil {
		fmt.Println(err)
		return
	}
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("types:", cfg.Types())

	// The secret is not in the Config: only where to find it.
	record, _ := json.Marshal(cfg.DNS01)
	fmt.Println("stored:", string(record))

	env := solverset.Env{Getenv: func(name string) string {
		if name == solverset.DefaultTSIGSecretEnv {
			return "c2VjcmV0" // in a program: os.Getenv
		}
		return ""
	}}
	set, err := solverset.Build(cfg, []string{"dns-01", "http-01"}, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Close()
	if err := set.Prepare(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("preference:", set.Preference)
	// Output:
	// types: [http-01 dns-01 dns-account-01 dns-persist-01]
	// stored: {"provider":"rfc2136","server":"ns1.example.com:53","tsig_name":"acme-key","tsig_algorithm":"hmac-sha512","propagation_timeout":"5m0s"}
	// preference: [dns-01 http-01]
}
