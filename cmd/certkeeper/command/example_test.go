package command_test

import (
	"context"
	"os"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
)

// Running "certkeeper version" in-process.
func ExampleMain() {
	code := command.Main(context.Background(), []string{"version"}, command.Env{Stdout: os.Stdout})
	_ = code // command.ExitOK
}
