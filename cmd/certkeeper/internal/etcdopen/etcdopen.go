// Package etcdopen turns the daemon's [store] table into an etcd store.
package etcdopen

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore"
)

// Open connects to the etcd cluster of cfg (backend "etcd").
func Open(ctx context.Context, cfg config.Store) (store.Store, error) {
	ec := etcdstore.Config{
		Endpoints: cfg.EtcdEndpoints,
		Prefix:    cfg.EtcdPrefix,
		CAFile:    cfg.EtcdCA,
		CertFile:  cfg.EtcdCert,
		KeyFile:   cfg.EtcdKey,
		Username:  cfg.EtcdUsername,
		Options:   etcdstore.Options{LockTTL: cfg.LockTTL.D()},
	}
	if cfg.EtcdPasswordFile != "" {
		b, err := os.ReadFile(cfg.EtcdPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("store.etcd_password_file: %w", err)
		}
		ec.Password = strings.TrimRight(string(b), "\r\n")
	}
	return etcdstore.Open(ec)
}
