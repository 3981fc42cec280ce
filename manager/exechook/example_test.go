package exechook_test

import (
	"fmt"
	"os"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
	"github.com/certkeeper/certkeeper/store"
)

// A Manager whose hooks run as programs with this process's environment,
// less its secrets.
func Example() {
	m, err := manager.New(manager.Config{
		Store:      store.NewMemory(),
		Hooks:      []manager.Hook{{Command: "systemctl", Args: []string{"reload", "nginx"}}},
		HookRunner: exechook.New(os.Environ()),
	})
	fmt.Println(m != nil, err)
	// Output: true <nil>
}
