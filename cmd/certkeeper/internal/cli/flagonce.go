package cli

import (
	"fmt"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v3"
)

// A single-valued flag given twice on the command line with two values
// (-store A -store B) is a usage error naming the flag and both values,
// rather than the last one silently winning: a flag repeated by mistake
// (an alias plus an explicit flag, a script's copy and paste) would
// otherwise leave the user one of the two unawares. The same value given
// twice (-force -force, -store A -store A, -timeout 60s -timeout 1m) is
// accepted: every occurrence says the same, nothing is lost. The
// repeatable flags (List: -d, -deploy-hook, -dns-resolver...) collect
// every value instead. A value from the environment variable is no
// "given": the flag replaces it.

// onceFlag is a single-valued flag and the values it was set to.
type onceFlag struct {
	flag   ucli.Flag
	secret bool
	// formerOf is the flag a former name's flag sets ("" for others).
	formerOf string
	values   []onceValue // every value set, in order, the environment's included
}

// onceValue is a value a flag was set to; via, if not "", says that a
// former name set it ("-https-addr :8443").
type onceValue struct{ value, via string }

// onceValidator registers f as single-valued and returns its Validator,
// which urfave/cli calls with the value of each Set, and which records
// it for checkOnce (it refuses nothing itself: it cannot tell the
// environment's value from the command line's).
func onceValidator[T any](fs *flagSet, f ucli.Flag, m flagMeta) func(T) error {
	o := &onceFlag{flag: f, secret: m.secret, formerOf: m.formerOf}
	fs.once = append(fs.once, o)
	return func(v T) error {
		o.values = append(o.values, onceValue{value: fmt.Sprint(v), via: fs.via})
		return nil
	}
}

// checkOnce returns a usage error for the first single-valued flag given
// more than once on the command line with different values, or nil. It
// runs once the command line is parsed, after the former names' actions
// set their flags, and before the command's action.
func (fs *flagSet) checkOnce() error {
	for _, o := range fs.once {
		c, ok := o.flag.(ucli.Countable)
		// Count is the number of times the command line set the flag
		// (a value from the environment is counted until the command line
		// replaces it, and is never there with a second one).
		if !ok || c.Count() < 2 {
			continue
		}
		msg, differ := o.message(c.Count())
		if !differ {
			continue
		}
		if o.formerOf != "" && fs.repeatable(o.formerOf) {
			msg += fmt.Sprintf(", or use -%s, which is repeatable", o.formerOf)
		}
		return usageError{msg}
	}
	return nil
}

// repeatable reports whether the flag name collects every value it is
// given (List).
func (fs *flagSet) repeatable(name string) bool {
	for _, f := range fs.flags {
		if _, ok := f.(*ucli.GenericFlag); ok && f.Names()[0] == name {
			return true
		}
	}
	return false
}

// message is "-store given twice (A, then B): give it once", for a flag
// given n times; differ says whether its values differ.
func (o *onceFlag) message(n int) (msg string, differ bool) {
	names := o.flag.Names()
	name := "-" + names[0]
	if len(names) > 1 {
		name += " (-" + strings.Join(names[1:], ", -") + ")"
	}
	times := "twice"
	if n > 2 {
		times = strconv.Itoa(n) + " times"
	}
	vals := o.values
	if len(vals) > n {
		vals = vals[len(vals)-n:]
	}
	former := false
	shown := make([]string, len(vals))
	for i, v := range vals {
		shown[i] = showValue(v.value)
		if v.via != "" {
			shown[i], former = v.via, true
		}
		differ = differ || v.value != vals[0].value
	}
	if o.secret || len(shown) < 2 {
		return fmt.Sprintf("%s given %s: give it once", name, times), differ
	}
	then := ", then "
	if former {
		// A former name's value is set after the command line is read:
		// its place on the line is not known.
		then = ", and "
	}
	return fmt.Sprintf("%s given %s (%s%s%s): give it once", name, times,
		strings.Join(shown[:len(shown)-1], ", "), then, shown[len(shown)-1]), differ
}

// showValue is v as a message shows it: quoted if empty or if it holds
// a space or a comma, which would blur where it ends.
func showValue(v string) string {
	if v == "" || strings.ContainsAny(v, " ,\t\n\"()") {
		return strconv.Quote(v)
	}
	return v
}
