package config

import (
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store/etcdstore"
)

func TestStoreBackendSection(t *testing.T) {
	solver := "[solvers]\nhttp-listen = \":80\"\n[[certificate]]\ndomains = [\"a.example.com\"]\n"
	c, err := Parse([]byte(`store-backend = "etcd"
[etcd]
endpoints = ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
prefix = "prod/"
ca = "/etc/etcd/ca.pem"
cert = "/etc/etcd/client.pem"
key = "/etc/etcd/client-key.pem"
username = "certkeeper"
password-file = "/etc/certkeeper/etcd-password"
lock-ttl = "10s"
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
	c, err = Parse([]byte("store = \"/x\"\n" + solver))
	if err != nil || c.Store.Backend != "dir" {
		t.Errorf("default backend: %+v, %v", c, err)
	}

	// The former [store] table's etcd_* keys still work, noted, as the
	// backend's table.
	c, err = Parse([]byte("[store]\nbackend = \"etcd\"\netcd_endpoints = [\"https://e:2379\"]\nlock_ttl = \"5s\"\n" + solver))
	if err != nil {
		t.Fatal(err)
	}
	fc = etcdstore.FileConfig{}
	if err := c.Store.Section(&fc); err != nil || len(fc.Endpoints) != 1 || time.Duration(fc.LockTTL) != 5*time.Second {
		t.Errorf("former keys: section %+v, %v", fc, err)
	}
	if notes := strings.Join(c.Deprecated, "\n"); !strings.Contains(notes, "store.etcd_endpoints is deprecated: write endpoints in the table [etcd]") ||
		!strings.Contains(notes, "store.lock_ttl is deprecated: write lock-ttl") {
		t.Errorf("deprecation notes %q", notes)
	}

	// Mistakes of the file, found by Parse.
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"bad backend name", "store-backend = \"Consul!\"\n", []string{"store-backend", "Consul!"}},
		{"backend named as a key", "store-backend = \"renewal\"\n", []string{"store-backend", "renewal"}},
		{"backend with dir", "store-backend = \"etcd\"\nstore = \"/x\"\n", []string{"store:", "not used"}},
		{"table of another backend", "store = \"/x\"\n[etcd]\nendpoints = [\"https://e:2379\"]\n", []string{"unknown key", "etcd.endpoints"}},
		{"backend table not a table", "store-backend = \"etcd\"\netcd = 3\n", []string{"etcd: takes a table"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in + solver))
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
		{"unknown key", "endpoints = [\"https://e:2379\"]\npassword = \"x\"\n", []string{"password: unknown key"}},
		{"wrong type", "endpoints = \"https://e:2379\"\n", []string{"endpoints"}},
		{"bad endpoint", "endpoints = [\"10.0.0.1:2379\"]\n", []string{"endpoints", "10.0.0.1:2379"}},
		{"half client cert", "endpoints = [\"https://e:2379\"]\ncert = \"/c\"\n", []string{"cert", "both"}},
		{"password without user", "endpoints = [\"https://e:2379\"]\npassword-file = \"/p\"\n", []string{"password-file", "username"}},
		{"short lock-ttl", "endpoints = [\"https://e:2379\"]\nlock-ttl = \"100ms\"\n", []string{"lock-ttl", "between"}},
		{"bad lock-ttl", "endpoints = [\"https://e:2379\"]\nlock-ttl = \"soon\"\n", []string{"soon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("store-backend = \"etcd\"\n[etcd]\n" + tc.in + solver))
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
