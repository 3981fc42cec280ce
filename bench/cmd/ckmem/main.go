// Command ckmem measures the memory floor under ckbench's "peak memory of
// a one-certificate run": the peak resident set (VmHWM) of small programs
// run against a local Pebble, each in a process of its own:
//
//   - "https": one HTTPS GET of Pebble's directory over HTTP/2, the least
//     any ACME client does, in a program that links net/http and nothing
//     else (child built with -tags ckmem_https);
//   - "certkeeper": a new account and one certificate for one name with
//     acme.Client and issue.Issuer, and an http-01 responder of its own,
//     in a program that links nothing else (none of the benchmark's
//     harness: Pebble's starter, the testing package, the other clients).
//
// Each is built with CGO_ENABLED=0 (no C library mapped: as certkeeper's
// release and ckbench's children are built) and with cgo (the go
// command's default; ckbench -cgo), and run -runs times:
//
//	go run ./cmd/ckmem -runs 5
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/certkeeper/certkeeper/bench"
)

func main() {
	runs := flag.Int("runs", 5, "runs of each program")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ckmem-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	type variant struct{ name, tags, cgo, mode string }
	variants := []variant{
		{"https", "ckmem_https", "1", "https"},
		{"https, CGO_ENABLED=0", "ckmem_https", "0", "https"},
		{"certkeeper", "", "1", "obtain"},
		{"certkeeper, CGO_ENABLED=0", "", "0", "obtain"},
	}
	bins := map[string]string{}
	for i, v := range variants {
		out := filepath.Join(dir, "child-"+strconv.Itoa(i))
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", v.tags, "-o", out, "github.com/certkeeper/certkeeper/bench/cmd/ckmem/child")
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+v.cgo)
		if b, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("building %s: %v\n%s", v.name, err, b)
		}
		bins[v.name] = out
	}
	env, err := bench.StartEnv(ctx, bench.EnvOptions{NoResponder: true})
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, env.TLSRootPEM, 0o600); err != nil {
		log.Fatal(err)
	}
	peaks := map[string][]int{}
	starts := map[string][]int{}
	for r := range *runs {
		for i, v := range variants {
			name := fmt.Sprintf("ckmem%d.example.test", r*len(variants)+i)
			out, err := exec.CommandContext(ctx, bins[v.name], v.mode, env.DirectoryURL, strconv.Itoa(env.HTTPPort), root, name).Output()
			if err != nil {
				log.Fatalf("%s: %v", v.name, err)
			}
			var start, peak int
			if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d %d", &start, &peak); err != nil {
				log.Fatalf("%s: %q: %v", v.name, out, err)
			}
			starts[v.name] = append(starts[v.name], start)
			peaks[v.name] = append(peaks[v.name], peak)
		}
	}
	fmt.Printf("| Program | Binary | RSS at start of main (median) | Peak RSS (VmHWM): min / median / max of %d |\n|---|---:|---:|---:|\n", *runs)
	for _, v := range variants {
		st, pk := starts[v.name], peaks[v.name]
		slices.Sort(st)
		slices.Sort(pk)
		fi, _ := os.Stat(bins[v.name])
		fmt.Printf("| %s | %.1f MB | %s | %s / %s / %s |\n", v.name, float64(fi.Size())/(1<<20), mb(st[len(st)/2]), mb(pk[0]), mb(pk[len(pk)/2]), mb(pk[len(pk)-1]))
	}
}

func mb(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
