package store

import "context"

// Backend is a kind of Store that a program opens by name from its
// configuration file: in the certkeeper daemon's file, store-backend =
// Name() selects it and the top-level table [NAME] configures it, with keys
// that belong to the backend alone. It lets one certkeeper binary carry
// every backend without its configuration knowing any of them;
// etcdstore.Backend is one.
//
// decode, in both methods, fills v (a pointer to a struct of the
// backend's choosing) from the backend's table: keys are matched to the
// fields' `toml` tags, a value whose field type implements
// encoding.TextUnmarshaler is decoded from a string, and a key that no
// field takes, or a value of the wrong type, is an error naming the key.
// A missing table decodes as empty.
type Backend interface {
	// Name is the value of store-backend that selects the backend:
	// lower-case letters and digits, never "dir" (the built-in Dir).
	Name() string
	// Check decodes the table and checks it without connecting to
	// anything (certkeeper run -check). Its error names the keys at
	// fault.
	Check(decode func(v any) error) error
	// Open decodes and checks the table as Check does and opens the
	// store, bounded by ctx. The Store may implement io.Closer; its user
	// closes it when done.
	Open(ctx context.Context, decode func(v any) error) (Store, error)
}
