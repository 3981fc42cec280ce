package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func accountCommand() command {
	return command{
		name: "account", summary: "register, show, update, deactivate or roll over an account",
		args: "register|show|update|deactivate|rollover",
		about: `Manages the account at the CA that the store keeps (per CA and -email) and
prints it as JSON. update takes -contact (repeatable) and -email; rollover
takes -new-key-type and stores the new key only after the CA accepted it.
show only reads the store.`,
		examples: []string{
			"certkeeper account register -ca letsencrypt -email me@example.com -agree-tos",
			"certkeeper account show -email me@example.com",
			"certkeeper account update -email me@example.com -contact mailto:ops@example.com",
			"certkeeper account rollover -new-key-type ec384",
		},
		words: []string{"register", "show", "update", "deactivate", "rollover"},
		setup: setupAccount,
	}
}

func setupAccount(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var c common
	var contacts listFlag
	fs.List(&contacts, "contact", "update: new contact URL (mailto:...), repeatable; -email also sets one")
	newKeyType := fs.StringP("new-key-type", "", "rollover: key type of the new account key (default: same as the old)")
	c.register(fs, env, useCA|useStore|useAccount|useTimeout)
	return func(ctx context.Context, pos []string) error {
		var err error
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
			// Not :=, which would shadow err and lose the CA's answer below.
			var eng *engine.Engine
			var opts engine.AccountOptions
			if eng, opts, err = c.accountEngine(certs); err != nil {
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
			// Not :=, which would shadow err and lose the CA's answer below.
			var eng *engine.Engine
			var opts engine.AccountOptions
			if eng, opts, err = c.accountEngine(certs); err != nil {
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
}
