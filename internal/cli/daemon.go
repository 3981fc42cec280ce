package cli

import (
	"context"
	"errors"
)

// runDaemon is being written; it fails clearly until then.
func runDaemon(ctx context.Context, env Env, args []string) error {
	return errors.New("not implemented yet")
}
