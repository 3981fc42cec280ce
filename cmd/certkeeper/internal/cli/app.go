package cli

// The command line is built with github.com/urfave/cli/v3: it accepts the
// single-dash -flag spelling that every user, test and document of
// certkeeper uses as well as --flag, with flags before, between or after
// the names; it prints help on stdout, completes commands and flags in
// bash, zsh and fish, suggests the nearest command or flag for a
// mistyped one ("did you mean"), and reads flags from environment
// variables, which its help shows. Parsing is all it does here: each
// command's action calls the engine and prints what it returns.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/certkeeper/certkeeper/engine"
	ucli "github.com/urfave/cli/v3"
)

// command is one certkeeper command: its help, and setup, which
// registers its flags and returns its action.
type command struct {
	name     string
	summary  string
	args     string // ArgsUsage: "NAME..."
	about    string // what it does, for its help
	examples []string
	words    []string // the words it takes first (account's), for completion
	live     bool     // progress as a status line on a terminal (liveLine)
	setup    func(fs *flagSet) func(ctx context.Context, pos []string) error
}

func commands() []command {
	return []command{
		obtainCommand(),
		renewCommand(),
		revokeCommand(),
		accountCommand(),
		listCommand(),
		doctorCommand(),
		daemonCommand(),
		serveCommand(),
	}
}

func init() {
	// --version only: -v is -verbose.
	ucli.VersionFlag = &ucli.BoolFlag{Name: "version", Usage: "print the version and exit", Local: true}
	ucli.HelpFlag = &ucli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help (on stdout)"}
	oneDash(ucli.VersionFlag, ucli.HelpFlag)
}

// oneDash makes the help lines of flags spell every name with one dash
// (-store, -d), as the rest of the CLI, its messages and docs/cli.md do;
// urfave/cli's help would write long names with two (--store).
func oneDash(flags ...ucli.Flag) {
	for _, f := range flags {
		if s, ok := f.(ucli.StringerSetter); ok {
			s.SetStringer(oneDashLine)
		}
	}
}

// oneDashLine is urfave/cli's help line of f ("--domain value, -d value\t
// usage") with one dash before each name.
func oneDashLine(f ucli.Flag) string {
	line := ucli.FlagStringer(f)
	names, rest, ok := strings.Cut(line, "\t")
	if !ok {
		return line
	}
	spelled := strings.Split(names, ", ")
	for i, n := range spelled {
		if strings.HasPrefix(n, "--") {
			spelled[i] = n[1:]
		}
	}
	return strings.Join(spelled, ", ") + "\t" + rest
}

// actionError carries an error a command's action returned, as opposed
// to one found while parsing the command line (a usage error).
type actionError struct {
	cmd string
	err error
}

func (e *actionError) Error() string { return e.err.Error() }
func (e *actionError) Unwrap() error { return e.err }

// newApp is the command tree, its flags bound to env.
func newApp(env Env) *ucli.Command {
	root := &ucli.Command{
		Name:      "certkeeper",
		Usage:     "obtain, renew and keep TLS certificates through ACME (RFC 8555)",
		UsageText: "certkeeper <command> [flags] [NAME...]",
		Description: "Run \"certkeeper <command> -h\" for a command's flags and examples; docs/cli.md\n" +
			"is the full reference, exit codes included. Every flag can also be set by\n" +
			"an environment variable, CERTKEEPER_ and its name in upper snake case\n" +
			"(-dns-check-server: $CERTKEEPER_DNS_CHECK_SERVER); the flag wins.",
		Version:               version(),
		Writer:                env.Stdout,
		ErrWriter:             env.Stderr,
		EnableShellCompletion: true,
		ConfigureShellCompletionCommand: func(c *ucli.Command) {
			c.Hidden = false
			c.Usage = "print the shell completion script for bash, zsh or fish"
		},
		ExitErrHandler: func(context.Context, *ucli.Command, error) {}, // Main exits
		OnUsageError:   onUsageError,
		// The commands, from the arguments Main was given (urfave/cli's
		// default reads os.Args at the root).
		ShellComplete: func(_ context.Context, cmd *ucli.Command) {
			for _, c := range cmd.Commands {
				if !c.Hidden {
					fmt.Fprintf(cmd.Root().Writer, "%s:%s\n", c.Name, c.Usage)
				}
			}
		},
		Action: func(_ context.Context, cmd *ucli.Command) error {
			if !cmd.Args().Present() {
				return ucli.ShowRootCommandHelp(cmd)
			}
			name := cmd.Args().First()
			msg := fmt.Sprintf("unknown command %q", name)
			if s := ucli.SuggestCommand(cmd.Commands, name); s != "" && s != "help" && s != "h" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return usageError{msg}
		},
	}
	for _, c := range commands() {
		root.Commands = append(root.Commands, c.build(env))
	}
	root.Commands = append(root.Commands, &ucli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version",
		Action: func(_ context.Context, cmd *ucli.Command) error {
			fmt.Fprintln(env.Stdout, "certkeeper "+version())
			return nil
		},
	})
	return root
}

// build makes the urfave/cli command of c.
func (c command) build(env Env) *ucli.Command {
	var live *liveLine
	if c.live {
		live = env.live // set by Main on a terminal
	}
	fs := newFlagSet(c.name, env)
	action := c.setup(fs)
	oneDash(fs.flags...)
	desc := c.about
	if len(c.examples) > 0 {
		desc += "\n\nExamples:\n"
		for _, e := range c.examples {
			desc += "  " + e + "\n"
		}
		desc = strings.TrimSuffix(desc, "\n")
	}
	complete := ucli.DefaultCompleteWithFlags
	if len(c.words) > 0 {
		complete = func(ctx context.Context, cmd *ucli.Command) {
			if cmd.Args().Len() == 0 {
				for _, w := range c.words {
					fmt.Fprintln(cmd.Root().Writer, w)
				}
			}
			ucli.DefaultCompleteWithFlags(ctx, cmd)
		}
	}
	return &ucli.Command{
		Name:            c.name,
		ShellComplete:   complete,
		Usage:           c.summary,
		ArgsUsage:       c.args,
		Description:     desc,
		Flags:           fs.flags,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			fs.cmd = cmd
			if err := fs.checkOnce(); err != nil {
				return err // a usage error, before anything is done
			}
			if fs.log != nil {
				if err := fs.log.check(); err != nil {
					return err
				}
				fs.log.live = live
			}
			if live != nil {
				defer live.close()
			}
			if err := action(ctx, cmd.Args().Slice()); err != nil {
				name := c.name
				var se *subcommandError
				if errors.As(err, &se) {
					name += " " + se.sub
				}
				return &actionError{cmd: name, err: err}
			}
			return nil
		},
	}
}

// onUsageError turns a flag the command does not have, or a value that
// does not parse, into one line naming the nearest flag.
func onUsageError(_ context.Context, cmd *ucli.Command, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		// The nearest of the flags help shows and of the former names,
		// which stand for the flags that replace them.
		var candidates []ucli.Flag
		replaced := map[string]string{}
		for _, f := range cmd.Flags {
			if f == ucli.HelpFlag || f.Names()[0] == "help" {
				continue
			}
			if vf, ok := f.(ucli.VisibleFlag); ok && !vf.IsVisible() {
				sf, ok := f.(*ucli.StringFlag)
				if !ok || sf.Action == nil {
					continue // a common flag the command does not use
				}
				replaced[sf.Name] = sf.Usage // Deprecated keeps the new name there
			}
			candidates = append(candidates, f)
		}
		if s := strings.TrimLeft(ucli.SuggestFlag(candidates, name, true), "-"); s != "" {
			if n, ok := replaced[s]; ok {
				s = n
			}
			msg += fmt.Sprintf("; did you mean -%s?", s)
		}
	}
	return usageError{msg}
}

// Main runs the command line args (without the program name) and returns
// the process exit code.
//
// Once ctx is done (an interrupt), the command is given a few seconds
// (interruptGrace) to clean up what it presented, and says on stderr what
// it is cleaning up; then Main returns ExitInterrupted whether or not it
// is done.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	c := newCleanups()
	env.cleanups = c
	if env.StderrTerminal {
		// A status line for the commands that show progress live:
		// everything written goes above it.
		env.live = newLiveLine(env.Stderr, env.TerminalWidth)
		env.Stdout, env.Stderr = env.live.writer(env.Stdout), env.live.writer(env.Stderr)
		defer env.live.close()
	}
	return runInterruptible(ctx, env, c, interruptGrace, func() int { return run(ctx, args, env) })
}

// run is Main without the bound on an interrupted command's clean-up.
func run(ctx context.Context, args []string, env Env) int {
	app := newApp(env)
	args = helpArgs(app, args)
	err := app.Run(ctx, append([]string{"certkeeper"}, args...))
	if len(args) == 0 {
		return ExitUsage // the help printed: a command is missing
	}
	if err == nil {
		return ExitOK
	}
	var ae *actionError
	if !errors.As(err, &ae) {
		// The command line itself: one line, and where to look.
		name, hint := "certkeeper", "certkeeper -h lists the commands"
		if sub := commandOf(app, args); sub != "" {
			name, hint = "certkeeper "+sub, "certkeeper "+sub+" -h lists its flags"
		}
		fmt.Fprintf(env.Stderr, "%s: %v (%s)\n", name, err, hint)
		return ExitUsage
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintf(env.Stderr, "certkeeper %s: interrupted; what was under way was cleaned up\n", ae.cmd)
		return ExitInterrupted
	}
	msg := ae.err.Error()
	var te *engine.TermsError
	if errors.As(ae.err, &te) {
		msg += ": give -agree-tos (or set $CERTKEEPER_AGREE_TOS=true) to agree"
	}
	// Joined errors (one per name, say) are one per line: each line says
	// which command it is from.
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(env.Stderr, "certkeeper %s: %s\n", ae.cmd, line)
	}
	return exitCode(ae.err)
}

// helpArgs turns a help flag after a command's word ("account update -h")
// into that command's help ("account -h"): the CLI library would read the
// word as a help topic it does not know.
func helpArgs(app *ucli.Command, args []string) []string {
	sub := commandOf(app, args)
	if sub == "" {
		return args
	}
	for _, a := range args {
		switch a {
		case "--":
			return args
		case "-h", "-help", "--help":
			return []string{sub, "-h"}
		}
	}
	return args
}

// commandOf names the command args run, "" if none.
func commandOf(app *ucli.Command, args []string) string {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if c := app.Command(a); c != nil {
			return c.Name
		}
		return ""
	}
	return ""
}

// version is the module version, the VCS commit and the Go version of
// the binary, as runtime/debug reports them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown) (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified, when string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		case "vcs.time":
			when = " " + s.Value
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("%s (commit %s%s%s, %s)", v, rev, modified, when, bi.GoVersion)
}
