package cli

import (
	"context"
	"errors"
)

// runDoctor is being written; it fails clearly until then.
func runDoctor(ctx context.Context, env Env, args []string) error {
	return errors.New("not implemented yet")
}
