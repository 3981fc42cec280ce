package command_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
	"github.com/certkeeper/certkeeper/store"
)

// fakeBackend is a store.Backend whose table has one key, zone, which
// must be "example.test".
type fakeBackend struct{ checked *string }

func (fakeBackend) Name() string { return "fake" }

func (b fakeBackend) Check(decode func(any) error) error {
	var c struct {
		Zone string `toml:"zone"`
	}
	if err := decode(&c); err != nil {
		return err
	}
	*b.checked = c.Zone
	return nil
}

func (fakeBackend) Open(context.Context, func(any) error) (store.Store, error) {
	return store.NewMemory(), nil
}

// runCheck runs "certkeeper run -check" on a file with store-backend =
// backend and the backend's table.
func runCheck(t *testing.T, backend, table string, backends ...store.Backend) (int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.toml")
	cfg := "ca = \"https://127.0.0.1:1/dir\"\nstore-backend = \"" + backend + "\"\n" + table +
		"[solvers]\nhttp-listen = \"127.0.0.1:0\"\n[[certificate]]\ndomains = [\"a.example.test\"]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := command.Main(t.Context(), []string{"run", "-check", "-config", path}, command.Env{Stdout: &out, Stderr: &out, Backends: backends})
	return code, out.String()
}

// The binary's own etcd backend checks its own table.
func TestEtcdBackendBuiltIn(t *testing.T) {
	names := []string{}
	for _, b := range command.Backends() {
		names = append(names, b.Name())
	}
	if strings.Join(names, ",") != "etcd" {
		t.Errorf("Backends() = %v, want etcd", names)
	}
	code, out := runCheck(t, "etcd", "[etcd]\nprefix = \"x/\"\n")
	if code == command.ExitOK || !strings.Contains(out, "etcd: endpoints: required") {
		t.Errorf("exit %d, output %q; want etcd: endpoints: required", code, out)
	}
	code, out = runCheck(t, "etcd", "[etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n")
	if strings.Contains(out, "store") || strings.Contains(out, "etcd:") || strings.Contains(out, "fake:") {
		t.Errorf("exit %d, output %q; want no store error", code, out)
	}
}

// A program's own backend is selected by name and decodes its own table.
func TestExtraBackend(t *testing.T) {
	var zone string
	code, out := runCheck(t, "fake", "[fake]\nzone = \"example.test\"\n", fakeBackend{checked: &zone})
	if zone != "example.test" || strings.Contains(out, "store") || strings.Contains(out, "etcd:") || strings.Contains(out, "fake:") {
		t.Errorf("exit %d, output %q, zone %q; want the fake backend's table decoded", code, out, zone)
	}
	code, out = runCheck(t, "fake", "[fake]\nzone = \"example.test\"\n")
	if code == command.ExitOK || !strings.Contains(out, `"fake": this certkeeper binary does not know it`) {
		t.Errorf("without the backend: exit %d, output %q", code, out)
	}
	code, out = runCheck(t, "fake", "[fake]\nzone = \"example.test\"\nttl = 3\n", fakeBackend{checked: &zone})
	if code == command.ExitOK || !strings.Contains(out, "fake: ttl: unknown key") {
		t.Errorf("unknown key: exit %d, output %q", code, out)
	}
}
