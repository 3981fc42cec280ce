package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// liveLine shows a command's progress on a terminal as one status line,
// rewritten in place: the latest progress record (an Info line: what is
// waited for, for how long, which servers still lack the record) with a
// spinner and the time since it was logged. Warnings and errors, and
// whatever else is written to stdout or stderr, are printed as lines of
// their own above it. Off a terminal nothing of this runs: progress
// records are the plain timestamped lines of the text handler.
type liveLine struct {
	raw   io.Writer  // the terminal (stderr)
	width func() int // its width in columns; 0 if unknown
	now   func() time.Time

	mu      sync.Mutex
	status  string        // "" when nothing is shown
	since   time.Time     // when status was logged
	of      time.Duration // how long status says it waits (next_in), 0 if it does not
	frame   int
	stop    chan struct{}
	stopped bool
}

// spinner frames, one per redraw.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// liveRedraw is how often the spinner and the elapsed time move.
const liveRedraw = 200 * time.Millisecond

func newLiveLine(raw io.Writer, width func() int) *liveLine {
	return &liveLine{raw: raw, width: width, now: time.Now}
}

// set shows s as the status line, from now, and reports whether it is
// shown (not after close).
func (l *liveLine) set(s string) bool { return l.setWait(s, 0) }

// setWait is set for a status that waits d (its next_in): the time since
// is shown as "(4s of 10s)" until d has passed.
func (l *liveLine) setWait(s string, d time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.status, l.since, l.of = s, l.now(), d
	if l.stop == nil && !l.stopped {
		l.stop = make(chan struct{})
		go l.tick(l.stop)
	}
	l.drawLocked()
	return true
}

func (l *liveLine) tick(stop chan struct{}) {
	t := time.NewTicker(liveRedraw)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.frame++
			l.drawLocked()
			l.mu.Unlock()
		}
	}
}

// drawLocked rewrites the status line: the spinner, the status cut to
// the terminal's width (a wrapped line could not be rewritten), and the
// time since it was logged, "of" the wait it announced while that lasts.
func (l *liveLine) drawLocked() {
	if l.status == "" || l.stopped {
		return
	}
	elapsed := l.now().Sub(l.since).Truncate(time.Second)
	tail := ""
	switch {
	case l.of > 0 && elapsed <= l.of:
		tail = " (" + elapsed.String() + " of " + l.of.String() + ")"
	case elapsed >= time.Second:
		tail = " (" + elapsed.String() + ")"
	}
	w := 80
	if l.width != nil {
		if n := l.width(); n > 0 {
			w = n
		}
	}
	line := spinner[l.frame%len(spinner)] + " " + l.status
	// Three columns free: for the cursor, and the ^C a terminal echoes,
	// which must not wrap the line (it could not be erased then).
	if max := w - 3 - utf8.RuneCountInString(tail); utf8.RuneCountInString(line) > max && max > 1 {
		r := []rune(line)
		line = string(r[:max-1]) + "…"
	}
	fmt.Fprint(l.raw, "\r\x1b[K"+line+tail)
}

// clearLocked erases the status line, if shown, leaving the cursor at the
// start of the empty line.
func (l *liveLine) clearLocked() {
	if l.status != "" && !l.stopped {
		fmt.Fprint(l.raw, "\r\x1b[K")
	}
}

// above writes p (whole lines) above the status line.
func (l *liveLine) above(w io.Writer, p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearLocked()
	n, err := w.Write(p)
	l.drawLocked()
	return n, err
}

// close erases the status line and stops the spinner; later records are
// written as lines.
func (l *liveLine) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearLocked()
	l.stopped = true
	if l.stop != nil {
		close(l.stop)
		l.stop = nil
	}
}

// writer returns w writing above the status line: stdout and stderr of a
// command whose progress is live.
func (l *liveLine) writer(w io.Writer) io.Writer { return aboveWriter{l, w} }

type aboveWriter struct {
	l *liveLine
	w io.Writer
}

func (a aboveWriter) Write(p []byte) (int, error) { return a.l.above(a.w, p) }

// liveHandler is the slog handler of a command whose progress is live:
// records below Warn become the status line (message and attributes, as
// the text handler writes them, without time and level), the others are
// written by the text handler above it.
type liveHandler struct {
	line  *liveLine
	text  slog.Handler // writes whole records above the status line
	attrs []slog.Attr
	group string
}

func (h *liveHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return h.text.Enabled(ctx, lv)
}

func (h *liveHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return h.text.Handle(ctx, r)
	}
	// The wait the record announces (next_in) is shown once, in the
	// time since: "(4s of 10s)".
	var wait time.Duration
	if h.group == "" {
		r, wait = withoutNextIn(r)
	}
	var b strings.Builder
	// The text handler's own rendering of the attributes, without its
	// time and level.
	th := slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	var hh slog.Handler = th.WithAttrs(h.attrs)
	if h.group != "" {
		hh = hh.WithGroup(h.group)
	}
	if err := hh.Handle(ctx, r); err != nil {
		return err
	}
	s := r.Message
	if a := strings.TrimSpace(b.String()); a != "" {
		s += " " + a
	}
	if !h.line.setWait(s, wait) {
		return h.text.Handle(ctx, r) // the command is over: a line
	}
	return nil
}

// withoutNextIn returns r without its "next_in" duration attribute (see
// internal/progress), and that duration; r itself if it has none.
func withoutNextIn(r slog.Record) (slog.Record, time.Duration) {
	var wait time.Duration
	var rest []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "next_in" && a.Value.Kind() == slog.KindDuration {
			wait = a.Value.Duration()
		} else {
			rest = append(rest, a)
		}
		return true
	})
	if wait <= 0 {
		return r, 0
	}
	n := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	n.AddAttrs(rest...)
	return n, wait
}

func (h *liveHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.text = h.text.WithAttrs(as)
	if h.group == "" {
		n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	}
	return &n
}

func (h *liveHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.text = h.text.WithGroup(name)
	if n.group == "" {
		n.group = name
	} else {
		n.group += "." + name
	}
	return &n
}
