package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// OrderRecord is an order (RFC 8555 §7.4) that a process placed for a
// certificate and could not note in the renewal state, because the
// store refused the write: in a cluster, the lock of the certificate was
// lost (its lease expired, etcd elected a new leader) between the CA's
// answer to newOrder and that write. Whoever takes the lock next
// continues it rather than place another (see package manager).
//
// Unlike the state, an order record is written without the fence (see
// FencedLocker): its key is made from the order's URL, which no other
// order has, so the write overwrites nobody's record, whoever holds the
// lock; the next holder checks the order (its identifiers, profile,
// status and key) before continuing it.
type OrderRecord struct {
	// URL is the order's URL (its Location).
	URL string `json:"url"`
	// KeyPEM is the private key (PEM) of the order's certificate request,
	// when the order was placed with a new key: a secret, stored like the
	// state's (files 0600 in a Dir).
	KeyPEM string `json:"key_pem,omitempty"`
	// PlacedAt is when the CA accepted the order.
	PlacedAt time.Time `json:"placed_at"`
}

// ordersDir returns the directory of the order records of the
// certificate called name from the CA ca: beside its state, StateKey
// without ".json" and with ".orders/" (manager/<ca>/<name>.orders/ in
// LayoutStandard, certkeeper/manager/<name>.orders/ in LayoutShared).
// Neither ListStates nor WhatChanged takes a key below it for a state.
func (c *Certs) ordersDir(ca, name string) (string, error) {
	k, err := c.StateKey(ca, name)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(k, ".json") + ".orders/", nil
}

// orderKey is the key of the record of the order at url: the first 16
// bytes of its SHA-256, in hex.
func orderKey(dir, url string) string {
	sum := sha256.Sum256([]byte(url))
	return dir + hex.EncodeToString(sum[:16])
}

// SaveOrder writes rec, an order placed for the certificate called name
// from the CA with directory URL ca, at a key of its own (see
// OrderRecord). Call it with a context that carries no fence. The error
// is that of the store, or wraps ErrInvalidKey.
func (c *Certs) SaveOrder(ctx context.Context, ca, name string, rec OrderRecord) error {
	if rec.URL == "" {
		return errors.New("store: order record without a URL")
	}
	dir, err := c.ordersDir(ca, name)
	if err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return c.Store.Put(ctx, orderKey(dir, rec.URL), data)
}

// LoadOrders returns the order records of the certificate called name
// from the CA ca, the most recently placed first; none is no error. A
// record that cannot be read or parsed is skipped.
func (c *Certs) LoadOrders(ctx context.Context, ca, name string) ([]OrderRecord, error) {
	dir, err := c.ordersDir(ca, name)
	if err != nil {
		return nil, err
	}
	ks, err := c.Store.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: listing order records: %w", err)
	}
	var recs []OrderRecord
	for _, k := range ks {
		data, err := c.Store.Get(ctx, k)
		if err != nil {
			continue
		}
		var r OrderRecord
		if json.Unmarshal(data, &r) != nil || r.URL == "" || orderKey(dir, r.URL) != k {
			continue
		}
		recs = append(recs, r)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].PlacedAt.After(recs[j].PlacedAt) })
	return recs, nil
}

// DeleteOrder removes the record of the order at url, if there is one:
// the order was finished, failed, or found not worth continuing.
func (c *Certs) DeleteOrder(ctx context.Context, ca, name, url string) error {
	dir, err := c.ordersDir(ca, name)
	if err != nil {
		return err
	}
	err = c.Store.Delete(ctx, orderKey(dir, url))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
