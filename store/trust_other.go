//go:build !unix

package store

func trusted(string) error { return nil }
