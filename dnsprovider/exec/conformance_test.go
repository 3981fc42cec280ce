package exec_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/dnsprovider/providertest"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// TestConformance runs providertest against a hook script that keeps the
// records in a file, one "FQDN VALUE" line each, under flock.
func TestConformance(t *testing.T) {
	zone := filepath.Join(t.TempDir(), "zone")
	if err := os.WriteFile(zone, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hook := script(t, `set -e
z="$ZONE_FILE"
case "$1" in
present) flock "$z" sh -c 'echo "$1 $2" >> "$3"' - "$2" "$3" "$z" ;;
cleanup) flock "$z" sh -c 'grep -vxF "$1 $2" "$3" > "$3.new" || true; mv "$3.new" "$3"' - "$2" "$3" "$z" ;;
*) exit 2 ;;
esac
`)
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) dns01.Provider {
			return &exec.Provider{Command: hook, Env: []string{"PATH=" + os.Getenv("PATH"), "ZONE_FILE=" + zone}}
		},
		Lookup: func(ctx context.Context, fqdn string) ([]string, error) {
			f, err := os.Open(zone)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			var vals []string
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if name, v, ok := strings.Cut(sc.Text(), " "); ok && name == fqdn {
					vals = append(vals, v)
				}
			}
			return vals, sc.Err()
		},
	})
}
