package engine_test

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// snapshotAtSwitch is a Dir that copies the whole store aside when a
// certificate's live link is switched, just before the switch or just
// after it: the copy is the store as a kill -9 at that moment leaves it
// (a Dir's writes are in the kernel's hands once they return), the
// renewal state included, the locks of the dead process aside.
type snapshotAtSwitch struct {
	*store.Dir
	after bool   // copy after the switch rather than before
	to    string // the copy
	once  sync.Once
	err   error
}

func (s *snapshotAtSwitch) Symlink(ctx context.Context, key, target string) error {
	if path.Base(key) != "live" {
		return s.Dir.Symlink(ctx, key, target)
	}
	if !s.after {
		s.once.Do(func() { s.err = copyStore(s.Dir.Root(), s.to) })
	}
	err := s.Dir.Symlink(ctx, key, target)
	if s.after {
		s.once.Do(func() { s.err = copyStore(s.Dir.Root(), s.to) })
	}
	return err
}

// copyStore copies the store at src to dst, links as links, without its
// locks (those of a process that is gone: taken over at once).
func copyStore(src, dst string) error {
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if de.IsDir() && de.Name() == ".locks" {
			return filepath.SkipDir
		}
		to := filepath.Join(dst, rel)
		switch {
		case de.IsDir():
			return os.MkdirAll(to, 0o700)
		case de.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, to)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
}

// killedRenewal obtains a certificate, then renews it (forced) while a
// snapshot is taken at the switch of its live link; it returns the
// snapshot (the store a kill at that moment leaves), the serial obtained
// first and the serial of the renewal the kill cut short.
func killedRenewal(t *testing.T, e *env, name string, after bool) (snap, first, killed string) {
	t.Helper()
	ctx := ctxT(t)
	r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
	if err != nil || r.Outcome != engine.Obtained {
		t.Fatalf("Obtain = %+v, %v", r, err)
	}
	snap = filepath.Join(t.TempDir(), "killed")
	var s *snapshotAtSwitch
	eng := e.engine(func(st store.Store) store.Store {
		s = &snapshotAtSwitch{Dir: st.(*store.Dir), after: after, to: snap}
		return s
	})
	rs, err := eng.Renew(ctx, engine.RenewOptions{Force: true})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.Renewed {
		t.Fatalf("Renew -force = %+v, %v", rs, err)
	}
	if s.err != nil {
		t.Fatalf("copying the store at the switch: %v", s.err)
	}
	return snap, r.Serial, rs[0].Serial
}

// versionSerials returns the serial of each version of name in the store
// at root, and the current one's.
func versionSerials(t *testing.T, root, ca, name string) (serials []string, current string) {
	t.Helper()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := (&store.Certs{Store: d}).Versions(ctxT(t), ca, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		serials = append(serials, v.Serial)
		if v.Current {
			current = v.Serial
		}
	}
	return serials, current
}

// restarted opens an engine over the store at root, as the next process
// would, counting the events that run the deploy hooks.
func restarted(t *testing.T, root string) (*engine.Engine, *[]manager.Event) {
	t.Helper()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		events []manager.Event
	)
	eng, err := engine.New(engine.Config{Store: d, Manager: manager.Config{OnEvent: func(ev manager.Event) {
		if ev.Type == manager.EventObtained || ev.Type == manager.EventRenewed {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, &events
}

// A renewal killed after the new certificate was written whole into the
// store and before the live link was switched to it; the renewal state
// still names the order and its key. The next run resumes that order and
// gets the same certificate from the CA: it makes the version written
// current (one copy of it, not two), reports it renewed and runs the
// hooks once, the certificate being live for the first time.
func TestRenewKilledBeforeSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const name = "ks.example.test"
	snap, first, killed := killedRenewal(t, e, name, false)
	serials, cur := versionSerials(t, snap, e.pebble.DirectoryURL, name)
	if !slices.Equal(serials, []string{first, killed}) || cur != first {
		t.Fatalf("as the kill left it: versions %q, current %q; want %q, the first current", serials, cur, []string{first, killed})
	}

	eng, events := restarted(t, snap)
	rs, err := eng.Renew(ctxT(t), engine.RenewOptions{Force: true})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.Renewed || rs[0].Serial != killed {
		t.Fatalf("Renew -force after the kill = %+v, %v; want renewed with %s, the certificate of the order resumed", rs, err, killed)
	}
	serials, cur = versionSerials(t, snap, e.pebble.DirectoryURL, name)
	if !slices.Equal(serials, []string{first, killed}) || cur != killed {
		t.Errorf("after the restart: versions %q, current %q; want %q, the second current (no copy of it)", serials, cur, []string{first, killed})
	}
	if len(*events) != 1 {
		t.Errorf("hooks' events after the restart: %d, want 1", len(*events))
	}
	if st, ok := eng.Manager().StatusOf(name); !ok || st.PendingOrder != "" {
		t.Errorf("pending order after the restart: %q, want none", st.PendingOrder)
	}
}

// A renewal killed after the live link was switched to the new
// certificate and before its deploy hooks ran and its renewal state
// forgot the order. The next run, not forced, finds the certificate live
// not announced: it runs the hooks for it (one renewed event), orders
// nothing, and the run after it runs none. A forced run orders anew, and
// the store holds each certificate once.
func TestRenewKilledAfterSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const name = "ka.example.test"
	snap, first, killed := killedRenewal(t, e, name, true)
	serials, cur := versionSerials(t, snap, e.pebble.DirectoryURL, name)
	if !slices.Equal(serials, []string{first, killed}) || cur != killed {
		t.Fatalf("as the kill left it: versions %q, current %q; want %q, the second current", serials, cur, []string{first, killed})
	}

	// Not forced: the certificate live is valid, nothing due, nothing
	// saved; its hooks, which the process killed had not run, run now.
	eng, events := restarted(t, snap)
	rs, err := eng.Renew(ctxT(t), engine.RenewOptions{})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.NotDue || rs[0].Serial != killed {
		t.Fatalf("Renew after the kill = %+v, %v; want not due, serial %s", rs, err, killed)
	}
	if serials, _ = versionSerials(t, snap, e.pebble.DirectoryURL, name); len(serials) != 2 {
		t.Fatalf("a renewal not due saved a version: %q", serials)
	}
	if len(*events) != 1 || (*events)[0].Type != manager.EventRenewed || !(*events)[0].NotAfter.Equal(rs[0].NotAfter) {
		t.Errorf("hooks' events after the kill: %+v, want one renewal of the certificate live (not after %v)", *events, rs[0].NotAfter)
	}
	if st, ok := eng.Manager().StatusOf(name); !ok || st.PendingOrder != "" {
		t.Errorf("pending order once announced: %q, want none", st.PendingOrder)
	}
	eng, events = restarted(t, snap)
	if rs, err = eng.Renew(ctxT(t), engine.RenewOptions{}); err != nil || len(rs) != 1 || rs[0].Outcome != engine.NotDue {
		t.Fatalf("Renew once announced = %+v, %v; want not due", rs, err)
	}
	if len(*events) != 0 {
		t.Errorf("hooks' events once announced: %+v, want none", *events)
	}

	// Forced: renewed once (by a new order: the resumed one is over),
	// and no certificate stored twice.
	eng, events = restarted(t, snap)
	rs, err = eng.Renew(ctxT(t), engine.RenewOptions{Force: true})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.Renewed || rs[0].Serial == first {
		t.Fatalf("Renew -force after the kill = %+v, %v; want renewed", rs, err)
	}
	serials, cur = versionSerials(t, snap, e.pebble.DirectoryURL, name)
	if cur != rs[0].Serial || len(slices.Compact(slices.Sorted(slices.Values(serials)))) != len(serials) {
		t.Errorf("after the restart: versions %q, current %q; want each certificate once, %s current", serials, cur, rs[0].Serial)
	}
	if len(*events) != 1 || (*events)[0].Type != manager.EventRenewed {
		t.Errorf("hooks' events after the restart: %+v, want one renewal", *events)
	}
}

// A first obtain killed after its certificate was written whole and
// before the live link was made: readers read that whole version (no live
// link: store.ErrBrokenPointer). Obtaining again gives the same
// certificate: its version is made current, announced once, and stored
// once.
func TestObtainKilledBeforeSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const name = "ko.example.test"
	snap := filepath.Join(t.TempDir(), "killed")
	var s *snapshotAtSwitch
	eng := e.engine(func(st store.Store) store.Store {
		s = &snapshotAtSwitch{Dir: st.(*store.Dir), to: snap}
		return s
	})
	r, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
	if err != nil || r.Outcome != engine.Obtained || s.err != nil {
		t.Fatalf("Obtain = %+v, %v (copy at the switch: %v)", r, err, s.err)
	}

	eng, events := restarted(t, snap)
	r2, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
	// The whole version is read (no live link: store.ErrBrokenPointer)
	// and made current, or the order resumed gives it again.
	if err != nil || (r2.Outcome != engine.Obtained && r2.Outcome != engine.StillValid) || r2.Serial != r.Serial {
		t.Fatalf("Obtain after the kill = %+v, %v; want %s, the certificate written whole", r2, err, r.Serial)
	}
	serials, cur := versionSerials(t, snap, e.pebble.DirectoryURL, name)
	if !slices.Equal(serials, []string{r.Serial}) || cur != r.Serial {
		t.Errorf("after obtaining again: versions %q, current %q; want %s once, current", serials, cur, r.Serial)
	}
	if len(*events) != 1 || (*events)[0].Type != manager.EventObtained {
		t.Errorf("hooks' events after obtaining again: %+v, want one", *events)
	}
}

// A first obtain killed after the live link was made and before its
// deploy hooks ran: the next `renew` (not forced) runs them, once, as for
// a certificate obtained, and orders nothing.
func TestObtainKilledAfterSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const name = "koa.example.test"
	snap := filepath.Join(t.TempDir(), "killed")
	var s *snapshotAtSwitch
	eng := e.engine(func(st store.Store) store.Store {
		s = &snapshotAtSwitch{Dir: st.(*store.Dir), after: true, to: snap}
		return s
	})
	r, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
	if err != nil || r.Outcome != engine.Obtained || s.err != nil {
		t.Fatalf("Obtain = %+v, %v (copy at the switch: %v)", r, err, s.err)
	}

	eng, events := restarted(t, snap)
	rs, err := eng.Renew(ctx, engine.RenewOptions{})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.NotDue || rs[0].Serial != r.Serial {
		t.Fatalf("Renew after the kill = %+v, %v; want not due, serial %s", rs, err, r.Serial)
	}
	if len(*events) != 1 || (*events)[0].Type != manager.EventObtained {
		t.Errorf("hooks' events after the kill: %+v, want one obtained", *events)
	}
	if serials, cur := versionSerials(t, snap, e.pebble.DirectoryURL, name); !slices.Equal(serials, []string{r.Serial}) || cur != r.Serial {
		t.Errorf("after the kill and renew: versions %q, current %q; want %s once, current", serials, cur, r.Serial)
	}
}
