package command_test

import (
	"context"
	"fmt"
	"os"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
)

// Running the command in-process: a command it does not know is a usage
// error, with its exit code.
func ExampleMain() {
	code := command.Main(context.Background(), []string{"no-such-command"}, command.Env{Stdout: os.Stdout})
	fmt.Println("exit code", code, code == command.ExitUsage)
	// Output:
	// exit code 2 true
}
