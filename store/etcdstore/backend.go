package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// Backend is the etcd store as a store.Backend: the certkeeper daemon's
// store-backend = "etcd", configured by its table [etcd] (a
// FileConfig; docs/cluster.md).
type Backend struct{}

var _ store.Backend = Backend{}

// Name returns "etcd".
func (Backend) Name() string { return "etcd" }

// Check decodes a FileConfig and checks it.
func (Backend) Check(decode func(v any) error) error {
	_, err := decodeFileConfig(decode)
	return err
}

// Open decodes and checks a FileConfig, reads its password file and
// connects (see Open). ctx is not used beyond Open's DialTimeout: the
// connection outlives it.
func (Backend) Open(ctx context.Context, decode func(v any) error) (store.Store, error) {
	fc, err := decodeFileConfig(decode)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := fc.Config()
	if err != nil {
		return nil, err
	}
	return Open(cfg)
}

func decodeFileConfig(decode func(v any) error) (FileConfig, error) {
	var fc FileConfig
	if err := decode(&fc); err != nil {
		return fc, err
	}
	return fc, fc.Check()
}

// FileConfig is the etcd store's table in a configuration file
// ([etcd] in the certkeeper daemon's file; docs/cluster.md).
type FileConfig struct {
	// Endpoints are the client URLs of the members,
	// "https://10.0.0.1:2379". Required.
	Endpoints []string `toml:"endpoints" json:"endpoints,omitempty"`
	// Prefix is put before every key; "" means DefaultPrefix.
	Prefix string `toml:"prefix" json:"prefix,omitempty"`
	// CA is a PEM file of roots for the members' certificates; "" means
	// the system roots.
	CA string `toml:"ca" json:"ca,omitempty"`
	// Cert and Key are a PEM client certificate and key, both or
	// neither.
	Cert string `toml:"cert" json:"cert,omitempty"`
	Key  string `toml:"key" json:"key,omitempty"`
	// Username is an etcd user; its password is read from PasswordFile
	// (trailing newlines dropped), never written in the file itself.
	Username     string `toml:"username" json:"username,omitempty"`
	PasswordFile string `toml:"password-file" json:"password_file,omitempty"`
	// LockTTL is Options.LockTTL, written as "15s": between 1s and 1h;
	// 0 means DefaultLockTTL.
	LockTTL Duration `toml:"lock-ttl" json:"lock_ttl,omitempty"`
}

// Duration is a time.Duration written as a string such as "15s".
type Duration time.Duration

// UnmarshalText parses a time.ParseDuration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Check reports every mistake of c, each error naming its key.
func (c FileConfig) Check() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if len(c.Endpoints) == 0 {
		bad("endpoints", "required: the client URLs of the members")
	}
	for _, ep := range c.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			bad("endpoints", "%q is not a client URL such as https://10.0.0.1:2379", ep)
		}
	}
	if (c.Cert == "") != (c.Key == "") {
		bad("cert", "a client certificate needs both cert and key")
	}
	if c.PasswordFile != "" && c.Username == "" {
		bad("password-file", "needs username")
	}
	if p := c.Prefix; p != "" && (strings.ContainsAny(p, "\x00\n") || len(p) > 256) {
		bad("prefix", "%q: no control characters, at most 256 bytes", p)
	}
	if d := time.Duration(c.LockTTL); d != 0 && (d < time.Second || d > time.Hour) {
		bad("lock-ttl", "%v: between 1s and 1h", d)
	}
	return errors.Join(errs...)
}

// Config returns the Config that Open takes, reading the password file.
func (c FileConfig) Config() (Config, error) {
	cfg := Config{
		Endpoints: c.Endpoints,
		Prefix:    c.Prefix,
		CAFile:    c.CA,
		CertFile:  c.Cert,
		KeyFile:   c.Key,
		Username:  c.Username,
		Options:   Options{LockTTL: time.Duration(c.LockTTL)},
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return Config{}, fmt.Errorf("password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	return cfg, nil
}
