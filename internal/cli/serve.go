package cli

import (
	"context"
	"errors"
)

// runServe is being written; it fails clearly until then.
func runServe(ctx context.Context, env Env, args []string) error {
	return errors.New("not implemented yet")
}
