package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// openEngine makes the engine over the store the flags name: the one
// engine obtain, renew, the daemon and serve share.
func (c *common) openEngine(ctx context.Context) (*engine.Engine, error) {
	certs, err := c.certs()
	if err != nil {
		return nil, err
	}
	if c.layout == "" {
		if certs.Layout, err = engine.DetectLayout(ctx, certs.Store); err != nil {
			return nil, err
		}
	}
	return engine.New(engine.Config{
		Store:     certs.Store,
		Layout:    certs.Layout,
		Logger:    slog.New(quietFailures{c.logger().Handler()}),
		SolverEnv: solverEnv(c.env),
		// Deploy hooks run as programs (manager/exechook).
		Manager:   manager.Config{HookRunner: hookRunner(c.env)},
		UserAgent: "certkeeper-cli",
		// A plain-HTTP CA only for tests against a local CA.
		AllowHTTPCA: c.env.Getenv("CERTKEEPER_INSECURE_HTTP_CA") == "1",
		// Clean-ups tracked, for what an interrupted command waits for.
		BuildSolvers: c.buildSolvers(),
	})
}

// buildSolvers is engine.Config.BuildSolvers: solverset.Build, tracking
// the clean-ups in the Env's cleanups (nil without them).
func (c *common) buildSolvers() func(solverset.Config, []string, solverset.Env) (*solverset.Set, error) {
	if c.env.cleanups == nil {
		return nil
	}
	return c.env.cleanups.buildTracked
}

// quietFailures drops the records in which the manager reports a failed
// order (and its alarms): a command prints the failure itself, once, as
// its error.
type quietFailures struct{ slog.Handler }

func (q quietFailures) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "PANIC") {
		return nil
	}
	quiet := false
	r.Attrs(func(a slog.Attr) bool {
		if ev, ok := a.Value.Any().(manager.Event); ok && a.Key == "event" {
			quiet = ev.Type == manager.EventFailed || ev.Type == manager.EventExpiringSoon
			return false
		}
		return true
	})
	if quiet {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietFailures) WithAttrs(as []slog.Attr) slog.Handler {
	return quietFailures{q.Handler.WithAttrs(as)}
}

func (q quietFailures) WithGroup(name string) slog.Handler {
	return quietFailures{q.Handler.WithGroup(name)}
}

// parseLayout turns the -layout flag into a store.Layout; "" is the
// standard layout (openEngine and openEngineReadOnly detect it instead).
func parseLayout(s string) (store.Layout, error) {
	switch s {
	case "", "standard":
		return store.LayoutStandard, nil
	case "shared":
		return store.LayoutShared, nil
	}
	return 0, usagef("unknown -layout %q: want standard or shared", s)
}

// readCerts opens the store the flags name for a command that only
// reads: it creates nothing, and a store that does not exist is an
// error ("no store at PATH") wrapping fs.ErrNotExist. The layout is
// -layout's, or detected as openEngine does.
func (c *common) readCerts(ctx context.Context) (*store.Certs, error) {
	layout, err := parseLayout(c.layout)
	if err != nil {
		return nil, err
	}
	if _, err := c.storeDirOrErr(); err != nil {
		return nil, err
	}
	d, err := store.OpenDir(c.storeDir, storeDirOptions(c.env)...)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no store at %s (give -store or $CERTKEEPER_STORE): %w", c.storeDir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if c.layout == "" {
		if layout, err = engine.DetectLayout(ctx, d); err != nil {
			return nil, err
		}
		c.layout = layout.String() // the account ID depends on it (accountID)
	} else if err := c.checkLayout(ctx, d, layout); err != nil {
		return nil, err
	}
	return &store.Certs{Store: d, Layout: layout}, nil
}

// openEngineReadOnly is openEngine for commands that only read the
// store (list): see readCerts. Use only the engine's reading methods.
func (c *common) openEngineReadOnly(ctx context.Context) (*engine.Engine, error) {
	certs, err := c.readCerts(ctx)
	if err != nil {
		return nil, err
	}
	return engine.New(engine.Config{
		Store:     certs.Store,
		Layout:    certs.Layout,
		Logger:    c.logger(),
		UserAgent: "certkeeper-cli",
		// A plain-HTTP CA only for tests against a local CA.
		AllowHTTPCA: c.env.Getenv("CERTKEEPER_INSECURE_HTTP_CA") == "1",
	})
}

// printResult writes one line about r: what happened, until when it is
// valid, when it renews.
func printResult(w io.Writer, r engine.Result) {
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
	names := strings.Join(r.Identifiers, ", ")
	if engine.IsStaging(r.CA) {
		// Said where the certificate is named: the default CA is staging.
		w = &stagingWriter{w: w}
	}
	switch r.Outcome {
	case engine.Obtained:
		printf(w, "obtained %s (%s), valid until %s\n", r.Name, names, day(r.NotAfter))
	case engine.Renewed:
		printf(w, "renewed %s (%s), valid until %s\n", r.Name, names, day(r.NotAfter))
	case engine.StillValid:
		printf(w, "%s (%s) is still valid until %s and renews from %s: nothing ordered (-force orders anyway)\n", r.Name, names, day(r.NotAfter), day(r.NextRenewal))
	case engine.NotDue:
		if r.NotAfter.IsZero() {
			printf(w, "%s: not obtained yet; the next attempt is from %s, after a failure (-force tries now)\n", r.Name, day(r.NextRenewal))
			return
		}
		if r.Retrying {
			printf(w, "%s: waiting after a failure until %s; -force retries now (valid until %s)\n", r.Name, day(r.NextRenewal), day(r.NotAfter))
			return
		}
		printf(w, "%s: not due; valid until %s, renews from %s\n", r.Name, day(r.NotAfter), day(r.NextRenewal))
	}
}

// localExit says which exit code a problem found before ordering gets:
// a setting that cannot work as given is a usage error; a store or port
// that cannot be used is not.
func localIsUsage(err error) bool {
	var le *engine.LocalError
	if !errors.As(err, &le) {
		return false
	}
	return le.What != "store" && le.What != "solvers" && !strings.HasPrefix(le.What, "CA ")
}

// namesMessage rewords a names change the engine refused in terms of
// this command's flags.
func namesMessage(err error) error {
	var ne *engine.NamesError
	if !errors.As(err, &ne) {
		return err
	}
	how := "-replace to replace its names"
	if ne.Expanding {
		how = "-expand to add the new names (or -replace)"
	}
	return usagef("certificate %q is for %s, not %s: give %s, or -cert-name to obtain another certificate",
		ne.Name, strings.Join(ne.Have, ", "), strings.Join(ne.Want, ", "), how)
}

// rescued returns the file a certificate the store refused was saved to.
func rescued(err error) string {
	var re *manager.RescuedError
	if errors.As(err, &re) {
		return re.Path
	}
	return ""
}

// rescueMessage is the error of an order whose certificate the store
// refused and manager saved to a file (see rescued): the file is named
// once, with advice on what to do with it.
func rescueMessage(err error, advice string) error {
	p := rescued(err)
	if p != "" && !strings.Contains(err.Error(), p) {
		return fmt.Errorf("%w\nthe certificate and its key are in %s: %s", err, p, advice)
	}
	return fmt.Errorf("%w\n%s", err, advice)
}

// isASCII reports whether s is ASCII only.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// stagingWriter adds engine.StagingNote to the end of the line written.
type stagingWriter struct{ w io.Writer }

func (s *stagingWriter) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	if line == string(p) {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, line+" ("+engine.StagingNote+")\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}
