package config

import (
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store/etcdstore"
)

func TestStoreBackendSection(t *testing.T) {
	solver := "[solvers.http01]\nlisten = \":80\"\n[[certificate]]\nnames = [\"a.example.com\"]\n"
	c, err := Parse([]byte(`[store]
backend = "etcd"
[store.etcd]
endpoints = ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
prefix = "prod/"
ca = "/etc/etcd/ca.pem"
cert = "/etc/etcd/client.pem"
key = "/etc/etcd/client-key.pem"
username = "certkeeper"
password_file = "/etc/certkeeper/etcd-password"
lock_ttl = "10s"
` + solver))
	if err != nil {
		t.Fatal(err)
	}
	var fc etcdstore.FileConfig
	if err := c.Store.Section(&fc); err != nil {
		t.Fatal(err)
	}
	if c.Store.Backend != "etcd" || len(fc.Endpoints) != 2 || fc.Prefix != "prod/" || time.Duration(fc.LockTTL) != 10*time.Second ||
		c.Store.Layout != "standard" || fc.Username != "certkeeper" || fc.PasswordFile != "/etc/certkeeper/etcd-password" {
		t.Errorf("parsed %+v, section %+v", c.Store, fc)
	}
	if err := (etcdstore.Backend{}).Check(c.Store.Section); err != nil {
		t.Errorf("etcd Check: %v", err)
	}
	c, err = Parse([]byte("[store]\ndir = \"/x\"\n" + solver))
	if err != nil || c.Store.Backend != "dir" {
		t.Errorf("default backend: %+v, %v", c, err)
	}

	// Mistakes of the file, found by Parse.
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"bad backend name", "backend = \"Consul!\"\n", []string{"store.backend", "Consul!"}},
		{"backend with dir", "backend = \"etcd\"\ndir = \"/x\"\n", []string{"store.dir", "not used"}},
		{"section of another backend", "dir = \"/x\"\n[store.etcd]\nendpoints = [\"https://e:2379\"]\n", []string{"unknown key", "store.etcd.endpoints"}},
		{"flat etcd keys of old", "backend = \"etcd\"\netcd_endpoints = [\"https://e:2379\"]\nlock_ttl = \"5s\"\n", []string{"store.etcd_endpoints", "store.lock_ttl", "[store.etcd]"}},
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

	// Mistakes of the backend's table, found by the backend through
	// Section.
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"no endpoints", "", []string{"endpoints", "required"}},
		{"unknown key", "endpoints = [\"https://e:2379\"]\npassword = \"x\"\n", []string{"store.etcd.password"}},
		{"wrong type", "endpoints = \"https://e:2379\"\n", []string{"store.etcd", "endpoints"}},
		{"bad endpoint", "endpoints = [\"10.0.0.1:2379\"]\n", []string{"endpoints", "10.0.0.1:2379"}},
		{"half client cert", "endpoints = [\"https://e:2379\"]\ncert = \"/c\"\n", []string{"cert", "both"}},
		{"password without user", "endpoints = [\"https://e:2379\"]\npassword_file = \"/p\"\n", []string{"password_file", "username"}},
		{"short lock_ttl", "endpoints = [\"https://e:2379\"]\nlock_ttl = \"100ms\"\n", []string{"lock_ttl", "between"}},
		{"bad lock_ttl", "endpoints = [\"https://e:2379\"]\nlock_ttl = \"soon\"\n", []string{"store.etcd", "soon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("[store]\nbackend = \"etcd\"\n[store.etcd]\n" + tc.in + solver))
			if err != nil {
				t.Fatal(err)
			}
			err = (etcdstore.Backend{}).Check(c.Store.Section)
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
