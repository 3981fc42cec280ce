package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
)

func runAccount(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: certkeeper account register|show|update|deactivate|rollover [flags]")
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("account "+sub, env)
	var c common
	c.register(fs, env)
	var contacts listFlag
	if sub == "update" {
		fs.Var(&contacts, "contact", "new contact URL (mailto:...), repeatable; -email also sets one")
	}
	var newKeyType *string
	if sub == "rollover" {
		newKeyType = fs.String("new-key-type", "", "key type of the new account key (default: same as the old)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("account %s takes no arguments", sub)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	certs, err := c.certs()
	if err != nil {
		return err
	}
	var acct acme.Account
	switch sub {
	case "register":
		if acct, err = c.account(ctx, cl, certs, true); err != nil {
			return err
		}
		acct, err = cl.GetAccount(ctx, acct)
	case "show":
		if acct, err = c.account(ctx, cl, certs, false); err != nil {
			return err
		}
		acct, err = cl.GetAccount(ctx, acct)
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
		if acct, err = cl.ChangeKey(ctx, acct, newKey); err == nil {
			err = c.saveAccount(ctx, cl, certs, acct)
		}
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
