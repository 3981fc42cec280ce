//go:build !unix

package store

// writeAllowed is not checked here: the write itself says.
func writeAllowed(string) error { return nil }
