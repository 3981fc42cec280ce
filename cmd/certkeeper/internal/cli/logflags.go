package cli

import (
	"io"
	"log/slog"
	"strings"
)

// logFlags are the logging flags every command takes: how much it logs
// (-v, -log-level, -quiet) and how (-log-format). Every line carries its
// time.
type logFlags struct {
	verbose   bool
	logLevel  string
	logFormat string
	quiet     bool
	// live, when set, is the terminal's status line that Info records
	// become (progress.go).
	live *liveLine
}

func (l *logFlags) register(fs *flagSet) {
	fs.category = "Logging"
	fs.Bool(&l.verbose, "verbose", false, "log debug lines too (retries, polls, requests): -log-level debug", alias("v"))
	fs.String(&l.logLevel, "log-level", "info", "log lines of this level and above: debug, info, warn, error")
	fs.String(&l.logFormat, "log-format", "text", "log lines as text (key=value) or json, one object a line")
	fs.Bool(&l.quiet, "quiet", false, "print no progress or result lines: only warnings and errors")
	fs.category = ""
	fs.log = l
}

// check reports a logging flag that cannot be used, as a usage error.
func (l *logFlags) check() error {
	if _, err := l.level(); err != nil {
		return err
	}
	switch strings.ToLower(l.logFormat) {
	case "", "text", "json":
		return nil
	}
	return usagef("-log-format %q: want text or json", l.logFormat)
}

// level is the level the flags ask for: -log-level if given other than
// info, else debug with -v, warn with -quiet, info otherwise.
func (l *logFlags) level() (slog.Level, error) {
	var lv slog.Level
	switch strings.ToLower(l.logLevel) {
	case "debug":
		lv = slog.LevelDebug
	case "", "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return 0, usagef("-log-level %q: want debug, info, warn or error", l.logLevel)
	}
	if lv == slog.LevelInfo {
		switch {
		case l.verbose:
			lv = slog.LevelDebug
		case l.quiet:
			lv = slog.LevelWarn
		}
	}
	return lv, nil
}

// logger writes log lines to w as the flags say.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
	lv, _ := l.level() // checked before the command runs
	opts := &slog.HandlerOptions{Level: lv}
	if strings.ToLower(l.logFormat) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	if l.live != nil && lv == slog.LevelInfo {
		// On a terminal, at the default level: progress as one line
		// rewritten in place. With -v every line is kept.
		return slog.New(&liveHandler{line: l.live, text: slog.NewTextHandler(w, opts)})
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
