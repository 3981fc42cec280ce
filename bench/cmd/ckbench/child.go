package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"syscall"

	"github.com/certkeeper/certkeeper/bench"
)

// childFlags are the -child* flags: one scenario for one client against a
// Pebble the parent process started.
type childFlags struct {
	scenario, client, dir, tlsRoot string
	httpPort                       int
	nameBase                       int64
}

// runInChild runs scenario id for k in a child process (this program with
// the same flags and -child), so that the child's peak memory is that of
// the scenario alone, and returns its result with PeakRSS set.
func runInChild(ctx context.Context, e *bench.Env, id string, k bench.Kind, nameBase int64) (bench.Result, error) {
	res := bench.Result{Client: k.Name}
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	root := filepath.Join(os.TempDir(), fmt.Sprintf("ckbench-%d-root.pem", os.Getpid()))
	if err := os.WriteFile(root, e.TLSRootPEM, 0o600); err != nil {
		return res, err
	}
	defer os.Remove(root)
	args := append(os.Args[1:len(os.Args):len(os.Args)],
		"-isolate=false", "-child", id, "-child-client", k.Name, "-child-dir", e.DirectoryURL,
		"-child-http-port", strconv.Itoa(e.HTTPPort), "-child-tls-root", root,
		"-child-name-base", strconv.FormatInt(nameBase, 10), "-nonce-reject", strconv.Itoa(e.NonceRejectPercent))
	cmd := exec.CommandContext(ctx, self, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run()
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("child: %v %v: %s", runErr, err, bytes.TrimSpace(errOut.Bytes()))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.PeakRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if runErr != nil {
		return res, fmt.Errorf("%s", bytes.TrimSpace(errOut.Bytes()))
	}
	return res, nil
}

// runChild is the child's side: attach to the parent's Pebble, run the
// scenario, print the result as JSON (on failure, the error on stderr and
// exit status 1).
func runChild(f childFlags, kinds []bench.Kind, run func(*bench.Env, bench.Kind) (bench.Result, error), reject int) {
	var kind *bench.Kind
	for i := range kinds {
		if kinds[i].Name == f.client {
			kind = &kinds[i]
		}
	}
	if kind == nil {
		fatal(fmt.Errorf("unknown client %q", f.client))
	}
	pem, err := os.ReadFile(f.tlsRoot)
	if err != nil {
		fatal(err)
	}
	bench.SetNameBase(f.nameBase)
	e, err := bench.AttachEnv(f.dir, f.httpPort, pem, reject)
	if err != nil {
		fatal(err)
	}
	defer e.Close()
	res, err := run(e, *kind)
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(sample)
	res.GoMemory = sample[0].Value.Uint64()
	if jerr := json.NewEncoder(os.Stdout).Encode(res); jerr != nil {
		fatal(jerr)
	}
	if err != nil {
		e.Close()
		fatal(err)
	}
}

// mb formats bytes as MB (MiB), "" for 0.
func mb(n int64) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
