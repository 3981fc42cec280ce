package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/certkeeper/certkeeper/bench"
)

// childSet holds a cmd/ckchild binary per client, each linking only that
// client, so that a child's peak memory is its client's (plus the Go
// runtime and the benchmark's own code), not that of three clients. The
// tag ckchild leaves out bench.StartEnv and with it acmetest, the testing
// package and miekg/dns, which a child that only attaches never uses.
type childSet struct {
	dir      string
	bins     map[string]string // by client name
	nameBase int64
	p        bench.Params
	verbose  bool // pass the children's stderr on
}

var childTags = map[string]string{
	bench.CertkeeperKind.Name: "ckchild_certkeeper",
	bench.XCryptoKind.Name:    "ckchild_xcrypto",
	bench.AcmezKind.Name:      "ckchild_acmez",
}

// buildChildren builds cmd/ckchild once per client (from within the
// repository: its go.work, or the bench module, resolves the package),
// every client's the same way: with CGO_ENABLED=0, as certkeeper's
// released command is built (docs/releasing.md), or with cgo if cgo is
// set, for comparison.
func buildChildren(ctx context.Context, kinds []bench.Kind, p bench.Params, cgo, verbose bool) (*childSet, error) {
	dir, err := os.MkdirTemp("", "ckbench-")
	if err != nil {
		return nil, err
	}
	cs := &childSet{dir: dir, bins: map[string]string{}, p: p, verbose: verbose}
	for _, k := range kinds {
		out := filepath.Join(dir, "ckchild-"+childTags[k.Name])
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "ckchild,"+childTags[k.Name], "-o", out, "github.com/certkeeper/certkeeper/bench/cmd/ckchild")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if cgo {
			cmd.Env[len(cmd.Env)-1] = "CGO_ENABLED=1"
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			cs.Close()
			return nil, fmt.Errorf("building ckchild for %s (run ckbench inside the repository, or -isolate=false): %v: %s", k.Name, err, b)
		}
		cs.bins[k.Name] = out
	}
	return cs, nil
}

func (cs *childSet) Close() { os.RemoveAll(cs.dir) }

// run runs scenario sc for k in a child process and returns its result
// with PeakRSS as the child reports it (its own VmHWM).
func (cs *childSet) run(ctx context.Context, e *bench.Env, sc bench.Scenario, k bench.Kind) (bench.Result, error) {
	res := bench.Result{Client: k.Name}
	root := filepath.Join(cs.dir, fmt.Sprintf("root-%d.pem", e.HTTPPort))
	if err := os.WriteFile(root, e.TLSRootPEM, 0o600); err != nil {
		return res, err
	}
	cs.nameBase += 1_000_000 // distinct names in every child
	args := []string{"-scenario", sc.ID, "-dir", e.DirectoryURL, "-http-port", strconv.Itoa(e.HTTPPort),
		"-tls-root", root, "-name-base", strconv.FormatInt(cs.nameBase, 10)}
	// The scenario sizes, as ckbench was given them.
	for f, v := range map[string]int{"fresh": cs.p.Fresh, "n": cs.p.N, "c": cs.p.C, "multi": cs.p.Multi, "nonce-reject": cs.p.NonceReject,
		"xcrypto-nonce-fresh": cs.p.XCryptoFresh, "xcrypto-nonce-n": cs.p.XCryptoN} {
		args = append(args, fmt.Sprintf("-%s=%d", f, v))
	}
	cmd := exec.CommandContext(ctx, cs.bins[k.Name], args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if cs.verbose {
		cmd.Stderr = io.MultiWriter(&errOut, os.Stderr)
	}
	runErr := cmd.Run()
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("child: %v: %s", runErr, bytes.TrimSpace(errOut.Bytes()))
	}
	if runErr != nil {
		return res, fmt.Errorf("%s", bytes.TrimSpace(errOut.Bytes()))
	}
	return res, nil
}

// mb formats bytes as MB (MiB), "" for 0.
func mb(n int64) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
