package etcdstore_test

import (
	"math/big"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func bigOne() *big.Int { return big.NewInt(1) }

func clientWithPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }
