// Package modguard holds no code: its tests guard the repository's module
// graph. TestReleaseOrder checks every go.mod and go.work against the
// release order of docs/releasing.md; TestConsumerGraph builds a small
// program that imports acme, in a module of its own, and checks that its
// module graph is the short list the core module promises.
package modguard
