package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// HookRunner runs the hooks of a Manager (Config.HookRunner): the Manager
// decides when a hook runs, bounds it with Hook.Timeout, logs it and
// reports its failure as EventHookFailed; the runner starts it. The
// manager package runs no program and reads no environment itself:
// manager/exechook is the runner of programs, given the environment they
// start from.
type HookRunner interface {
	// RunHook runs run.Hook for run.Event and returns when it has ended,
	// with an error if it failed (for a program: it could not start, or
	// exited with a status other than 0). It MUST honour ctx, which ends
	// at the hook's timeout, and MUST write what the hook prints to
	// run.Output. It may be called from several goroutines at once.
	RunHook(ctx context.Context, run HookRun) error
}

// ErrNoHookRunner is the error of New given Hooks, and of Manage given a
// Spec with Hooks, when Config.HookRunner is nil.
var ErrNoHookRunner = errors.New("manager: hooks given but no Config.HookRunner to run them (see manager/exechook)")

// HookRun is one run of a hook, as the Manager gives it to a HookRunner.
type HookRun struct {
	// Hook is the hook to run: Command and Args.
	Hook Hook
	// Event is the event it runs for.
	Event Event
	// Env are the event's variables, "NAME=value", to add to the
	// hook's environment: CERTKEEPER_EVENT, CERTKEEPER_NAME,
	// CERTKEEPER_NAMES, CERTKEEPER_CERT_PATH, CERTKEEPER_KEY_PATH,
	// CERTKEEPER_NOT_AFTER (RFC 3339, UTC) and CERTKEEPER_ERROR.
	Env []string
	// Unset names variables the hook must not get beyond the runner's
	// own rule for secrets: Config.SecretEnv and Hook.Unset.
	Unset []string
	// Output receives the hook's output (the Manager logs its first 16
	// KiB).
	Output io.Writer
}

// maxHookOutput is how much of a hook's output is kept for the log.
const maxHookOutput = 16 << 10

// logMessage is the message of the log line of an event of type t, in
// plain words ("obtaining a certificate", not "certificate obtaining");
// the line's event attribute carries the type itself.
func (t EventType) logMessage() string {
	switch t {
	case EventObtaining:
		return "obtaining a certificate"
	case EventObtained:
		return "certificate obtained"
	case EventRenewing:
		return "renewing a certificate"
	case EventRenewed:
		return "certificate renewed"
	case EventFailed:
		return "obtaining or renewing a certificate failed"
	case EventExpiringSoon:
		return "certificate expiring soon"
	case EventRevoked:
		return "certificate revoked"
	case EventHookFailed:
		return "a hook failed"
	}
	return "certificate event " + string(t)
}

// emit sends ev to the logger, OnEvent, OnPanic and the hooks.
func (m *Manager) emit(ctx context.Context, ev Event) {
	log := m.cfg.Logger
	switch ev.Type {
	case EventPanic:
		// OnPanic logs it, by default.
	case EventFailed, EventExpiringSoon, EventHookFailed:
		log.LogAttrs(ctx, slog.LevelError, ev.Type.logMessage(), slog.Any("event", ev))
	case EventRevoked:
		log.LogAttrs(ctx, slog.LevelWarn, ev.Type.logMessage(), slog.Any("event", ev))
	default:
		log.LogAttrs(ctx, slog.LevelInfo, ev.Type.logMessage(), slog.Any("event", ev))
	}
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(ev)
	}
	if ev.Type == EventPanic || ev.Type == EventExpiringSoon {
		if am, ok := m.cfg.Metrics.(AlarmMetrics); ok {
			am.Alarm(ev.Name, ev.Type)
		}
	}
	if ev.Type == EventPanic {
		m.cfg.OnPanic(ctx, ev)
	}
	if ev.Type == EventHookFailed {
		return
	}
	for i := range m.cfg.Hooks {
		if h := &m.cfg.Hooks[i]; h.wants(ev.Type) {
			m.runHook(ctx, h, ev)
		}
	}
	m.mu.Lock()
	var own []Hook
	if e := m.entries[ev.Name]; e != nil {
		own = e.spec.Hooks
	}
	m.mu.Unlock()
	for i := range own {
		if h := &own[i]; h.wants(ev.Type) {
			m.runHook(ctx, h, ev)
		}
	}
}

// runHook runs h for ev and reports a failure as EventHookFailed.
func (m *Manager) runHook(ctx context.Context, h *Hook, ev Event) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	// The hook runs even when ctx is cancelled (Run stopping): a renewed
	// certificate must still be deployed.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	// Secrets stay out of the hook's environment: the runner drops its
	// own list (manager/exechook: CERTKEEPER_EAB_HMAC, *_SECRET*,
	// *_TOKEN*, ...) and these.
	unset := append(append([]string(nil), m.cfg.SecretEnv...), h.Unset...)
	var out limitedBuffer
	start := time.Now()
	err := m.cfg.HookRunner.RunHook(hctx, HookRun{Hook: *h, Event: ev, Env: hookEnv(ev), Unset: unset, Output: &out})
	if hctx.Err() != nil && err != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	log := m.cfg.Logger.With("name", ev.Name, "event", string(ev.Type), "hook", h.Command)
	if err == nil {
		log.InfoContext(ctx, "hook ran", "duration", time.Since(start), "output", out.String())
		return
	}
	hev := ev
	hev.Type = EventHookFailed
	hev.Err = fmt.Errorf("hook %s for %s: %w; output: %q", h.Command, ev.Type, err, out.String())
	m.emit(ctx, hev)
}

// hookEnv is the environment a hook gets for ev, beyond the one its
// runner starts from (without its secrets): HookRun.Env.
func hookEnv(ev Event) []string {
	env := []string{
		"CERTKEEPER_EVENT=" + string(ev.Type),
		"CERTKEEPER_NAME=" + ev.Name,
		"CERTKEEPER_NAMES=" + strings.Join(ev.Identifiers, ","),
		"CERTKEEPER_CERT_PATH=" + ev.Paths["cert"],
		"CERTKEEPER_KEY_PATH=" + ev.Paths["key"],
		"CERTKEEPER_NOT_AFTER=",
		"CERTKEEPER_ERROR=",
	}
	if !ev.NotAfter.IsZero() {
		env[5] += ev.NotAfter.UTC().Format(time.RFC3339)
	}
	if ev.Err != nil {
		env[6] += ev.Err.Error()
	}
	return env
}

// paths returns the files that hold e's certificate when the store is a
// directory, nil otherwise: "cert", "key", "combined" and, in the
// standard layout, "live" (the current version's directory) and "meta".
func (m *Manager) paths(e *entry) map[string]string {
	p, err := m.certs.Paths(e.spec.Issuer.Client.DirectoryURL, e.spec.Name)
	if err != nil {
		return nil
	}
	out := map[string]string{"cert": p.Cert, "key": p.Key, "combined": p.Combined}
	if p.Live != "" {
		out["live"], out["meta"] = p.Live, p.Meta
	}
	return out
}

// limitedBuffer keeps the first maxHookOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxHookOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
