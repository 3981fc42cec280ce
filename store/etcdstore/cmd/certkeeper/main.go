// Command certkeeper is the certkeeper command with the etcd store
// backend: the daemon accepts [store] backend = "etcd" (docs/cluster.md).
// Everything else is the core command (docs/cli.md). It is built from
// this nested module so that the core module does not depend on the etcd
// client:
//
//	go install github.com/certkeeper/certkeeper/store/etcdstore/cmd/certkeeper@latest
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/certkeeper/certkeeper/internal/cli"
	"github.com/certkeeper/certkeeper/store/etcdstore/cmd/certkeeper/internal/etcdopen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		Stores: map[string]cli.StoreOpener{"etcd": etcdopen.Open},
	})
	stop()
	os.Exit(code)
}
