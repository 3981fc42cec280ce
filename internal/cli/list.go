package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// listEntry is one row of "certkeeper list"; its JSON form is stable.
type listEntry struct {
	Name      string    `json:"name"`
	Names     []string  `json:"names"`
	CA        string    `json:"ca"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	DaysLeft  int       `json:"days_left"`
	Error     string    `json:"error,omitempty"`
}

func runList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("list", env)
	var c common
	c.register(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("list takes no arguments")
	}
	certs, err := c.certs()
	if err != nil {
		return err
	}
	ca := ""
	if c.ca != "" && c.ca != "all" {
		if ca, err = c.directoryURL(); err != nil {
			return err
		}
	}
	entries, err := listEntries(ctx, certs, ca, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNAMES\tISSUER\tNOT AFTER\tDAYS LEFT")
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", e.Name, e.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", e.Name, strings.Join(e.Names, ","), e.Issuer, e.NotAfter.UTC().Format("2006-01-02 15:04"), e.DaysLeft)
	}
	return tw.Flush()
}

func listEntries(ctx context.Context, certs *store.Certs, ca string, now time.Time) ([]listEntry, error) {
	all, err := certs.ListCertificates(ctx, ca)
	if err != nil {
		return nil, err
	}
	entries := make([]listEntry, 0, len(all))
	for _, r := range all {
		e := listEntry{Name: r.Name, Names: r.Identifiers, CA: r.CA}
		chain, err := keys.ParseCertificates(r.ChainPEM)
		if err != nil {
			e.Error = "unreadable chain: " + err.Error()
			entries = append(entries, e)
			continue
		}
		leaf := chain[0]
		e.Issuer = leaf.Issuer.CommonName
		e.NotBefore, e.NotAfter = leaf.NotBefore, leaf.NotAfter
		e.DaysLeft = int(leaf.NotAfter.Sub(now).Hours() / 24)
		entries = append(entries, e)
	}
	return entries, nil
}
