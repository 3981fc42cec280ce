package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"os/exec"
	"slices"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// checkDaemonConfig is "certkeeper run -check": the file's own checks,
// then what needs the system, every problem at once: each [solvers]
// table's local checks (its ports bind, and are released at once; its
// webroot, programs, files and secrets exist), the metrics address
// binds, and each [[hook]] command is an executable program. On a host
// where the daemon runs, the ports it holds are reported as in use.
func checkDaemonConfig(ctx context.Context, env Env, path string) error {
	cfg, err := config.LoadAll(path)
	if cfg == nil {
		var pe *iofs.PathError
		if errors.As(err, &pe) {
			return usageError{err.Error()} // it names the file
		}
		return usageError{(&config.FileError{Path: path, Err: err}).Error()}
	}
	for _, n := range cfg.Deprecated {
		fmt.Fprintf(env.Stderr, "%s: warning: %s\n", path, n)
	}
	errs := []error{err}
	seen := map[string]bool{}
	check := func(key string, sv config.Solvers) {
		if seen[solverKey(sv)] || sv.Validate() != nil {
			return // checked already, or its problems are in err
		}
		seen[solverKey(sv)] = true
		senv := solverEnv(env)
		senv.Output = nil
		errs = append(errs, prefixKeys(key, sv.Check(ctx, senv)))
	}
	check("solvers", cfg.Solvers)
	if name := cfg.Store.Backend; name != "" && name != "dir" {
		if b := env.backend(name); b == nil {
			errs = append(errs, fmt.Errorf("store-backend: %q: this certkeeper binary does not know it", name))
		} else if berr := b.Check(cfg.Store.Section); berr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, berr))
		}
	}
	if b := cfg.Store.Backend; (b == "" || b == "dir") && cfg.Store.Dir != "" {
		// A store not made yet fits either layout.
		if dir, derr := store.OpenDir(cfg.Store.Dir, storeDirOptions(env)...); derr == nil {
			if lerr := fileLayoutFits(ctx, dir, cfg); lerr != nil {
				errs = append(errs, lerr)
			}
			// The daemon takes its lock and writes states there: a
			// read-only store fails at its start, so say it here.
			if werr := dir.CheckWritable(ctx); werr != nil {
				errs = append(errs, fmt.Errorf("store: %w", werr))
			}
		}
	}
	for i, c := range cfg.Certs {
		if c.Solvers != nil {
			check(fmt.Sprintf("certificate[%d].solvers", i), *c.Solvers)
		}
	}
	if l := cfg.Metrics.Listen; l != "" && !hasKeyError(err, "metrics.listen") {
		var lc net.ListenConfig
		if ln, lerr := lc.Listen(ctx, "tcp", l); lerr != nil {
			errs = append(errs, fmt.Errorf("metrics.listen: %w", lerr))
		} else {
			ln.Close()
		}
	}
	for i, h := range cfg.Hooks {
		if h.Command == "" {
			continue
		}
		if _, err := exec.LookPath(h.Command); err != nil {
			errs = append(errs, fmt.Errorf("hook[%d].command: not an executable program: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{(&config.FileError{Path: path, Err: err}).Error()}
	}
	noun := "certificates"
	if len(cfg.Certs) == 1 {
		noun = "certificate"
	}
	printf(env.Stdout, "%s: ok, %d %s\n", path, len(cfg.Certs), noun)
	return nil
}

// hasKeyError reports whether err holds a config.KeyError about key.
func hasKeyError(err error, key string) bool {
	keyed, _ := solverset.KeyErrors(err)
	return slices.ContainsFunc(keyed, func(ke *config.KeyError) bool { return ke.Key == key })
}

// solverKey identifies a [solvers] table by its settings (its JSON, whose
// maps are written in key order).
func solverKey(sv config.Solvers) string {
	b, err := json.Marshal(sv)
	if err != nil {
		return fmt.Sprintf("%#v", sv) // a Config always marshals; never here
	}
	return string(b)
}

// prefixKeys puts prefix (the table's path in the file, "solvers" or
// "certificate[2].solvers") before the keys of solverset's errors.
func prefixKeys(prefix string, err error) error {
	if err == nil {
		return nil
	}
	keyed, other := solverset.KeyErrors(err)
	errs := other
	for _, ke := range keyed {
		kerr := ke.Err
		if msg := ke.Message(config.SolverKeyOrNone); msg != kerr.Error() {
			kerr = errors.New(msg) // names other settings by the file's keys
		}
		errs = append(errs, &solverset.KeyError{Key: prefix + "." + config.SolverKey(ke.Key), Err: kerr})
	}
	return errors.Join(errs...)
}
