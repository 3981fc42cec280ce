package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func runAccount(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("account", env)
	var c common
	c.register(fs, env)
	var contacts listFlag
	fs.Var(&contacts, "contact", "update: new contact URL (mailto:...), repeatable; -email also sets one")
	newKeyType := fs.String("new-key-type", "", "rollover: key type of the new account key (default: same as the old)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: certkeeper account register|show|update|deactivate|rollover [flags]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: certkeeper account register|show|update|deactivate|rollover [flags]")
	}
	sub := pos[0]
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var (
		cl    *acme.Client
		certs *store.Certs
	)
	if sub == "show" {
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
	var acct acme.Account
	switch sub {
	case "register":
		// Registers, or finds the stored account at the CA, and
		// registers anew one the CA no longer knows.
		eng, opts, err := c.accountEngine(certs)
		if err != nil {
			return err
		}
		acct, err = eng.VerifyAccount(ctx, cl.DirectoryURL, c.caRootPath(), opts)
	case "show":
		if acct, err = c.account(ctx, cl, certs, false); err != nil {
			return err
		}
		url := acct.URL
		acct, err = cl.GetAccount(ctx, acct)
		if acme.IsAccountDoesNotExist(err) {
			return fmt.Errorf("the CA no longer knows account %s (%w): \"certkeeper account register\" registers a new one with the same key (obtain and renew do so by themselves)", url, err)
		}
	case "update":
		if acct, err = c.account(ctx, cl, certs, false); err != nil {
			return err
		}
		if c.email != "" {
			contacts = append(contacts, "mailto:"+c.email)
		}
		acct.Contact = contacts
		if acct, err = cl.UpdateAccount(ctx, acct); err == nil {
			err = c.saveAccount(ctx, cl, certs, acct)
		}
	case "deactivate":
		if acct, err = c.account(ctx, cl, certs, false); err != nil {
			return err
		}
		acct, err = cl.DeactivateAccount(ctx, acct)
	case "rollover":
		if acct, err = c.account(ctx, cl, certs, false); err != nil {
			return err
		}
		kt, kerr := keys.TypeOf(acct.Key.Public())
		if *newKeyType != "" {
			kt, kerr = keys.ParseType(*newKeyType)
		}
		if kerr != nil {
			return usageError{kerr.Error()}
		}
		newKey, gerr := keys.Generate(kt)
		if gerr != nil {
			return gerr
		}
		eng, opts, err := c.accountEngine(certs)
		if err != nil {
			return err
		}
		acct, err = eng.RolloverAccount(ctx, cl.DirectoryURL, c.caRootPath(), opts, newKey)
	default:
		return usagef("unknown account command %q: want register, show, update, deactivate or rollover", sub)
	}
	if err != nil {
		return err
	}
	out := struct {
		URL     string   `json:"url"`
		Status  string   `json:"status"`
		Contact []string `json:"contact,omitempty"`
		CA      string   `json:"ca"`
	}{acct.URL, string(acct.Status), acct.Contact, cl.DirectoryURL}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(env.Stdout, string(b))
	return nil
}
