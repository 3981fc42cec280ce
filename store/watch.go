package store

import "context"

// Watcher is an optional interface of a Store that reports changes made
// by any user of the store, in this process or another, so that several
// instances sharing a distributed store learn of a new certificate or a
// challenge another one started without polling.
//
// Contract:
//   - Watch validates prefix as List does ("" for every key) and reports
//     every Put and Delete of a key beginning with prefix that happens
//     after it returns, in the order the store applied them.
//   - The channel is closed when ctx is done, and only then; a backend
//     that loses its connection reconnects by itself.
//   - When a backend cannot tell what changed while it was reconnecting
//     (or its history was compacted), it sends an event with Reset set:
//     the receiver MUST re-read what it cares about under the prefix.
//   - Events are hints, not data: a receiver reads the key again with
//     Get, which sees that value or a later one. A slow receiver holds
//     the backend up; it SHOULD read the channel promptly.
type Watcher interface {
	Watch(ctx context.Context, prefix string) (<-chan WatchEvent, error)
}

// WatchEvent is one change seen by a Watcher.
type WatchEvent struct {
	// Key is the key that was written or deleted; "" when Reset is set.
	Key string
	// Deleted is set when the key was deleted (or expired).
	Deleted bool
	// Reset says that changes may have been missed: re-read everything
	// under the watched prefix.
	Reset bool
	// Revision orders the event among all changes of the store, when the
	// backend has such a counter (etcd's revision); zero otherwise.
	Revision int64
}
