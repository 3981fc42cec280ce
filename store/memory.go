package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxValueSize is the largest value a Store in this package reads or
// writes: 16 MiB, far above any certificate chain, so a stray large file
// cannot exhaust memory.
const MaxValueSize = 16 << 20

// ErrTooLarge is wrapped by the error for a value larger than
// MaxValueSize.
var ErrTooLarge = errors.New("store: value larger than 16 MiB")

// Memory is a Store that keeps everything in memory, for tests and for
// programs that do not need persistence. Its semantics match Dir's: the
// same key rules, a key cannot be both a value and a prefix directory of
// other keys ("a" and "a/b"), and locks are exclusive per name. Locks
// cannot go stale because their holders live in the same process. The
// zero value is not usable; call NewMemory.
type Memory struct {
	mu     sync.Mutex
	values map[string]memValue
	// dirs counts, for every proper prefix directory of a stored key
	// ("a" and "a/b" for "a/b/c"), the keys below it, so that Put checks
	// the value/directory rule in time proportional to the key's depth.
	dirs  map[string]int
	locks map[string]chan struct{} // closed when the lock is released
}

type memValue struct {
	data     []byte
	modified time.Time
}

var (
	_ Store    = (*Memory)(nil)
	_ Appender = (*Memory)(nil)
)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{values: map[string]memValue{}, dirs: map[string]int{}, locks: map[string]chan struct{}{}}
}

// Get returns a copy of the value at key.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[key]
	if !ok {
		return nil, notExist("get", key)
	}
	return slices.Clone(v.data), nil
}

// Put stores a copy of value at key.
func (m *Memory) Put(ctx context.Context, key string, value []byte) error {
	if err := check(ctx, "put", key); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return &fs.PathError{Op: "put", Path: key, Err: ErrTooLarge}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Mirror the file system: no key may sit below another key, and a key
	// may not replace a directory of keys.
	for p := key; ; {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
		if _, ok := m.values[p]; ok {
			return &fs.PathError{Op: "put", Path: key, Err: fmt.Errorf("store: %q holds a value, so it cannot hold keys", p)}
		}
	}
	if n := m.dirs[key]; n > 0 {
		return &fs.PathError{Op: "put", Path: key, Err: fmt.Errorf("store: %q holds %d keys, so it cannot hold a value", key, n)}
	}
	if _, ok := m.values[key]; !ok {
		m.addDirs(key, 1)
	}
	m.values[key] = memValue{data: slices.Clone(value), modified: time.Now()}
	return nil
}

// Delete removes key.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.values[key]; !ok {
		return notExist("delete", key)
	}
	delete(m.values, key)
	m.addDirs(key, -1)
	return nil
}

// addDirs adds n to the count of every prefix directory of key.
func (m *Memory) addDirs(key string, n int) {
	for i := strings.LastIndexByte(key, '/'); i >= 0; i = strings.LastIndexByte(key[:i], '/') {
		d := key[:i]
		if m.dirs[d] += n; m.dirs[d] == 0 {
			delete(m.dirs, d)
		}
	}
}

// List returns the sorted keys that begin with prefix. Use a trailing
// slash ("certificates/") to list one directory's subtree.
func (m *Memory) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	m.mu.Lock()
	keys := make([]string, 0, len(m.values))
	for k := range m.values {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	slices.Sort(keys)
	return keys, nil
}

// Stat describes the value at key.
func (m *Memory) Stat(ctx context.Context, key string) (KeyInfo, error) {
	if err := check(ctx, "stat", key); err != nil {
		return KeyInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[key]
	if !ok {
		return KeyInfo{}, notExist("stat", key)
	}
	return KeyInfo{Key: key, Size: int64(len(v.data)), Modified: v.modified}, nil
}

// Lock waits until no one else holds the lock called name, or ctx is
// done. The returned function releases the lock; calling it again returns
// an error and releases nothing.
func (m *Memory) Lock(ctx context.Context, name string) (func() error, error) {
	if err := validateLockName(name); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.mu.Lock()
		held, busy := m.locks[name]
		if !busy {
			unlock := m.grantLocked(name)
			m.mu.Unlock()
			return unlock, nil
		}
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// TryLock is Lock that does not wait (see TryLocker): when the lock is
// held it returns at once an error wrapping ErrLockBusy.
func (m *Memory) TryLock(ctx context.Context, name string) (func() error, error) {
	if err := validateLockName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, busy := m.locks[name]; busy {
		return nil, fmt.Errorf("store: lock %q is held in this process: %w", name, ErrLockBusy)
	}
	return m.grantLocked(name), nil
}

// grantLocked takes the free lock name, with m.mu held, and returns the
// function that releases it.
func (m *Memory) grantLocked(name string) func() error {
	mine := make(chan struct{})
	m.locks[name] = mine
	var once sync.Once
	return func() error {
		err := fmt.Errorf("store: lock %q already released", name)
		once.Do(func() {
			m.mu.Lock()
			delete(m.locks, name)
			m.mu.Unlock()
			close(mine)
			err = nil
		})
		return err
	}
}

// check validates key and ctx for a single-key operation.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("store: %s: %w", op, err) // err quotes the key
	}
	return nil
}

func notExist(op, key string) error {
	return &fs.PathError{Op: op, Path: key, Err: fs.ErrNotExist}
}

// Append adds data at the end of the value at key, creating it if it is
// missing (see Appender).
func (m *Memory) Append(ctx context.Context, key string, data []byte) error {
	if err := check(ctx, "append", key); err != nil {
		return err
	}
	m.mu.Lock()
	v, ok := m.values[key]
	m.mu.Unlock()
	if !ok {
		return m.Put(ctx, key, data)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.values[key]; ok {
		v = cur
	}
	if len(v.data)+len(data) > MaxValueSize {
		return &fs.PathError{Op: "append", Path: key, Err: ErrTooLarge}
	}
	m.values[key] = memValue{data: append(slices.Clip(v.data), data...), modified: time.Now()}
	return nil
}
