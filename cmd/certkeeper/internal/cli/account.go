package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func accountCommand() command {
	return command{
		name: "account", summary: "register, list, show, update, deactivate or roll over an account",
		args: "register|list|show|update|deactivate|rollover",
		about: `Manages the accounts at the CA that the store keeps, per CA and name
(-account, default: the -email). list shows every account of the store;
show one as the CA knows it. update changes only what it is given:
-contact (repeatable) replaces the contacts, -add-contact and
-remove-contact change them. deactivate is permanent: it asks on a
terminal, else needs -yes; the next obtain registers a new account.
rollover takes -new-key-type and stores the new key only after the CA
accepted it. Prints text; -json prints JSON.`,
		examples: []string{
			"certkeeper account register -ca letsencrypt -email me@example.com -agree-tos",
			"certkeeper account list",
			"certkeeper account show -email me@example.com -json",
			"certkeeper account update -account me@example.com -contact mailto:ops@example.com",
			"certkeeper account update -email me@example.com -add-contact mailto:oncall@example.com",
			"certkeeper account deactivate -account me@example.com -yes",
			"certkeeper account rollover -new-key-type ec384",
		},
		words: []string{"register", "list", "show", "update", "deactivate", "rollover"},
		setup: setupAccount,
	}
}

// subcommandError is an error of a command's subcommand (account
// update), which Main reports under both words.
type subcommandError struct {
	sub string
	err error
}

func (e *subcommandError) Error() string { return e.err.Error() }
func (e *subcommandError) Unwrap() error { return e.err }

// accountJSON is an account in "account -json" (docs/cli.md).
type accountJSON struct {
	CA string `json:"ca"`
	// ID is the account's name in the store (-account).
	ID  string `json:"id"`
	URL string `json:"url"`
	// Status is the CA's (valid, deactivated, revoked), "deactivated"
	// when the store records it so, "" when not known (list reads the
	// store only).
	Status  string   `json:"status"`
	Contact []string `json:"contact"`
}

func setupAccount(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var c common
	var contacts, addContacts, removeContacts listFlag
	fs.category = "Account"
	fs.List(&contacts, "contact", "update: the account's contact URLs (mailto:...), replacing all of them; repeatable")
	fs.List(&addContacts, "add-contact", "update: add a contact URL; repeatable")
	fs.List(&removeContacts, "remove-contact", "update: remove a contact URL; repeatable")
	newKeyType := fs.StringP("new-key-type", "", "rollover: key type of the new account key (default: same as the old)")
	yes := fs.BoolP("yes", false, "deactivate: do not ask for confirmation (needed when stdin is not a terminal)", alias("y"))
	fs.category = ""
	asJSON := fs.BoolP("json", false, "print the account (list: the accounts) as JSON")
	c.register(fs, env, useCA|useStore|useAccount|useTimeout)
	return func(ctx context.Context, pos []string) (err error) {
		if len(pos) != 1 {
			return usagef("usage: certkeeper account register|list|show|update|deactivate|rollover [flags]")
		}
		sub := pos[0]
		set := fs.setMap()
		if !slices.Contains([]string{"register", "list", "show", "update", "deactivate", "rollover"}, sub) {
			return usagef("unknown account command %q: want register, list, show, update, deactivate or rollover", sub)
		}
		defer func() {
			if err != nil {
				// Reported as "certkeeper account update: …".
				err = &subcommandError{sub: sub, err: err}
			}
		}()
		if sub == "update" && !set["contact"] && !set["add-contact"] && !set["remove-contact"] && !set["email"] {
			// Before the store is opened (or made) and anything is sent.
			return errNothingToUpdate
		}
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		var (
			cl    *acme.Client
			certs *store.Certs
		)
		if sub == "show" || sub == "list" {
			// Only reads the store: a missing one is an error, not created.
			if cl, err = c.client(); err == nil {
				certs, err = c.readCerts(ctx)
			}
		} else {
			cl, certs, err = c.open()
		}
		if err != nil {
			return err
		}
		// -email is a contact for update where it does not name the
		// account: with -account, and in the shared layout.
		emailContact := set["email"] && (set["account"] || c.layout == "shared")
		if sub == "update" && !set["contact"] && !set["add-contact"] && !set["remove-contact"] && !emailContact {
			// Checked before anything is sent: nothing is ever erased.
			return errNothingToUpdate
		}
		eng, opts, err := c.accountEngine(certs)
		if err != nil {
			return err
		}
		defer eng.Close()
		if sub != "register" {
			// Only update changes contacts, and only as its flags say.
			opts.Contact = nil
		}
		ca := cl.DirectoryURL
		// stored is the account the flags name, which the store must have.
		stored := func() (acme.Account, error) {
			acct, err := eng.StoredAccount(ctx, ca, c.caRootPath(), opts)
			if errors.Is(err, iofs.ErrNotExist) && !set["account"] && !set["email"] && c.layout != "shared" {
				// No account named: the store's only account at this CA,
				// as obtain and revoke find it.
				if infos, lerr := eng.Accounts(ctx, ca); lerr == nil && len(infos) == 1 {
					c.accountName, opts.ID = infos[0].ID, infos[0].ID
					acct, err = eng.StoredAccount(ctx, ca, c.caRootPath(), opts)
				}
			}
			if errors.Is(err, iofs.ErrNotExist) {
				return acct, fmt.Errorf("no account %s at %s in %s (\"certkeeper account list\" lists them): run \"certkeeper account register\" first", c.accountID(), ca, c.storeDir)
			}
			if errors.Is(err, engine.ErrAccountDeactivated) {
				return acct, fmt.Errorf("%w: \"certkeeper account register\" (or the next obtain) registers a new one", err)
			}
			return acct, err
		}
		var acct acme.Account
		switch sub {
		case "list":
			return c.listAccounts(ctx, env, eng, set["ca"], ca, *asJSON)
		case "register":
			// Registers, or finds the stored account at the CA, and
			// registers anew one the CA no longer knows.
			acct, err = eng.VerifyAccount(ctx, ca, c.caRootPath(), opts)
		case "show":
			if acct, err = stored(); err != nil {
				return err
			}
			url := acct.URL
			acct, err = cl.GetAccount(ctx, acct)
			if acme.IsAccountDoesNotExist(err) {
				return fmt.Errorf("the CA no longer knows account %s (%w): \"certkeeper account register\" registers a new one with the same key (obtain and renew do so by themselves)", url, err)
			}
		case "update":
			if acct, err = stored(); err != nil {
				return err
			}
			var email string
			if emailContact {
				email = c.email
			}
			newContacts, cerr := updatedContacts(acct.Contact, set["contact"], contacts, addContacts, removeContacts, email)
			if cerr != nil {
				return cerr
			}
			// Through the engine, which updates the CA and then the store.
			opts.Contact = newContacts
			acct, err = eng.VerifyAccount(ctx, ca, c.caRootPath(), opts)
		case "deactivate":
			if acct, err = stored(); err != nil {
				return err
			}
			if !*yes {
				if err := confirm(env, fmt.Sprintf("Deactivate account %s (%s) at %s? The CA will refuse it for good; the next obtain registers a new account. [y/N] ", c.accountID(), acct.URL, ca)); err != nil {
					return err
				}
			}
			acct, err = eng.DeactivateAccount(ctx, ca, c.caRootPath(), opts)
		case "rollover":
			if acct, err = stored(); err != nil {
				return err
			}
			kt, kerr := keys.TypeOf(acct.Key.Public())
			if *newKeyType != "" {
				if kt, kerr = parseKeyType("new-key-type", *newKeyType); kerr != nil {
					return kerr
				}
			}
			if kerr != nil {
				return usageError{kerr.Error()}
			}
			newKey, gerr := keys.Generate(kt)
			if gerr != nil {
				return gerr
			}
			acct, err = eng.RolloverAccount(ctx, ca, c.caRootPath(), opts, newKey)
		}
		if err != nil {
			return err
		}
		out := accountJSON{CA: ca, ID: c.accountID(), URL: acct.URL, Status: string(acct.Status), Contact: acct.Contact}
		if out.Contact == nil {
			out.Contact = []string{}
		}
		if *asJSON {
			return writeJSON(env.Stdout, out)
		}
		if !c.quiet {
			if sub == "deactivate" {
				printf(env.Stdout, "deactivated account %s (%s) at %s; the next obtain registers a new one\n", out.ID, out.URL, out.CA)
				return nil
			}
			printAccount(env.Stdout, out)
		}
		return nil
	}
}

var errNothingToUpdate = usagef("give what to change: -contact URL (replaces the contacts), -add-contact URL or -remove-contact URL; nothing was changed")

// printAccount writes an account as lines of "key: value".
func printAccount(w io.Writer, a accountJSON) {
	contact := strings.Join(a.Contact, ", ")
	if contact == "" {
		contact = "none"
	}
	status := a.Status
	if status == "" {
		status = "unknown (not asked)"
	}
	printf(w, "account:  %s\nca:       %s\nurl:      %s\nstatus:   %s\ncontact:  %s\n", a.ID, a.CA, a.URL, status, contact)
}

// listAccounts prints the accounts of the store: of the CA ca if only is
// set, else of every CA.
func (c *common) listAccounts(ctx context.Context, env Env, eng *engine.Engine, only bool, ca string, asJSON bool) error {
	if !only {
		ca = ""
	}
	infos, lerr := eng.Accounts(ctx, ca)
	out := make([]accountJSON, 0, len(infos))
	for _, i := range infos {
		a := accountJSON{CA: i.CA, ID: i.ID, URL: i.URL, Contact: i.Contact}
		if i.Deactivated {
			a.Status = string(acme.StatusDeactivated)
		}
		if a.Contact == nil {
			a.Contact = []string{}
		}
		out = append(out, a)
	}
	if asJSON {
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
		return lerr
	}
	if len(out) == 0 {
		if lerr == nil && !c.quiet {
			printf(env.Stdout, "no accounts in %s\n", c.storeDir)
		}
		return lerr
	}
	aliases := map[string]string{}
	for name, u := range acme.DirectoryAliases() {
		aliases[u] = name
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tCA\tSTATUS\tCONTACT\tURL")
	for _, a := range out {
		short := aliases[a.CA]
		if short == "" {
			short = shortCA(a.CA)
		}
		status, contact, url := a.Status, strings.Join(a.Contact, ", "), a.URL
		if status == "" {
			status = "-" // not asked: list reads the store only
		}
		if contact == "" {
			contact = "-"
		}
		if url == "" {
			url = "- (key only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, short, status, contact, url)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return lerr
}

// updatedContacts are the contacts of account update: have changed by
// the flags: -contact (replace) replaces them, -add-contact and
// -remove-contact change them; email, if not "", counts as a -contact.
func updatedContacts(have []string, replace bool, contacts, add, remove listFlag, email string) ([]string, error) {
	out := slices.Clone(have)
	if replace || email != "" {
		out = nil
		for _, ct := range contacts {
			out = append(out, contactURL(ct))
		}
		if email != "" {
			out = append(out, "mailto:"+email)
		}
	}
	for _, ct := range add {
		if ct = contactURL(ct); !slices.Contains(out, ct) {
			out = append(out, ct)
		}
	}
	for _, ct := range remove {
		ct = contactURL(ct)
		i := slices.Index(out, ct)
		if i < 0 {
			return nil, usagef("-remove-contact %s: the account has no such contact (it has %s)", ct, strings.Join(have, ", "))
		}
		out = slices.Delete(out, i, i+1)
	}
	out = slices.Compact(out)
	if out == nil {
		out = []string{} // no contacts at all: asked for, so sent
	}
	return out, nil
}

// contactURL makes an address a mailto: URL; a URL is kept.
func contactURL(s string) string {
	if strings.Contains(s, ":") {
		return s
	}
	return "mailto:" + s
}

// confirm asks question on the terminal and returns nil for yes; without
// a terminal it is a usage error naming -yes.
func confirm(env Env, question string) error {
	if env.Stdin == nil || !env.StdinTerminal {
		return usagef("this cannot be undone: give -yes to confirm (stdin is not a terminal to ask on)")
	}
	fmt.Fprint(env.Stderr, question)
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("not confirmed: nothing was changed")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed: nothing was changed")
}
