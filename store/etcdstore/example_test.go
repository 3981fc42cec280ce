package etcdstore_test

import (
	"context"
	"log"
	"time"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/store/etcdstore"
)

// Each instance opens the same etcd cluster and runs its Manager on it;
// the Manager sees that the store fences and watches, and behaves as one
// member of a cluster. (Needs a running etcd, so it has no output check.)
func Example() {
	st, err := etcdstore.Open(etcdstore.Config{
		Endpoints: []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"},
		CAFile:    "/etc/certkeeper/etcd-ca.pem",
		Prefix:    "certkeeper/",
		Options:   etcdstore.Options{LockTTL: 15 * time.Second},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	sol := &shared.Solver{Store: st} // http-01 and tls-alpn-01 for every Issuer
	go sol.Watch(ctx)
	m, err := manager.New(manager.Config{Store: st})
	if err != nil {
		log.Fatal(err)
	}
	_ = m // m.Manage(...), then m.Run(ctx)
}
