package config

import (
	"strings"
	"testing"
	"time"
)

func TestStoreEtcd(t *testing.T) {
	solver := "[solvers.http01]\nlisten = \":80\"\n[[certificate]]\nnames = [\"a.example.com\"]\n"
	c, err := Parse([]byte(`[store]
backend = "etcd"
etcd_endpoints = ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
etcd_prefix = "prod/"
etcd_ca = "/etc/etcd/ca.pem"
etcd_cert = "/etc/etcd/client.pem"
etcd_key = "/etc/etcd/client-key.pem"
etcd_username = "certkeeper"
etcd_password_file = "/etc/certkeeper/etcd-password"
lock_ttl = "10s"
` + solver))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Store
	if s.Backend != "etcd" || len(s.EtcdEndpoints) != 2 || s.EtcdPrefix != "prod/" || s.LockTTL.D() != 10*time.Second || s.Layout != "standard" || s.EtcdUsername != "certkeeper" {
		t.Errorf("parsed %+v", s)
	}
	c, err = Parse([]byte("[store]\ndir = \"/x\"\n" + solver))
	if err != nil || c.Store.Backend != "dir" {
		t.Errorf("default backend: %+v, %v", c, err)
	}

	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown backend", "backend = \"consul\"\n", []string{"store-backend", "consul", "dir or etcd"}},
		{"etcd without endpoints", "backend = \"etcd\"\n", []string{"etcd-endpoints", "required"}},
		{"etcd with dir", "backend = \"etcd\"\ndir = \"/x\"\netcd_endpoints = [\"http://127.0.0.1:2379\"]\n", []string{"store: not used"}},
		{"bad endpoint", "backend = \"etcd\"\netcd_endpoints = [\"10.0.0.1:2379\"]\n", []string{"etcd-endpoints", "10.0.0.1:2379"}},
		{"endpoint without port", "backend = \"etcd\"\netcd_endpoints = [\"https://etcd.example\"]\n", []string{"etcd-endpoints"}},
		{"half client cert", "backend = \"etcd\"\netcd_endpoints = [\"https://e:2379\"]\netcd_cert = \"/c\"\n", []string{"etcd-cert", "both"}},
		{"password without user", "backend = \"etcd\"\netcd_endpoints = [\"https://e:2379\"]\netcd_password_file = \"/p\"\n", []string{"etcd-password-file", "etcd-username"}},
		{"short lock_ttl", "backend = \"etcd\"\netcd_endpoints = [\"https://e:2379\"]\nlock_ttl = \"100ms\"\n", []string{"lock-ttl"}},
		{"etcd keys with dir", "dir = \"/x\"\netcd_endpoints = [\"https://e:2379\"]\nlock_ttl = \"5s\"\n", []string{"etcd-endpoints", "lock-ttl", "only used with store-backend"}},
		{"unknown etcd key", "backend = \"etcd\"\netcd_endpoints = [\"https://e:2379\"]\netcd_password = \"x\"\n", []string{"store.etcd_password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("[store]\n" + tc.in + solver))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
