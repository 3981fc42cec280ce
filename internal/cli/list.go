package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
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
	// NextRenewal and LastError come from the state a manager (the
	// daemon, serve) keeps in the store; absent when none has run.
	NextRenewal *time.Time `json:"next_renewal,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Failures    int        `json:"failures,omitempty"`
}

func runList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("list", env)
	var c common
	c.register(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
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
	// Certificates that cannot be read are reported after the ones that
	// can, and make the command fail.
	entries, loadErr := listEntries(ctx, certs, ca, time.Now())
	if entries == nil && loadErr != nil {
		return loadErr
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return err
		}
		return loadErr
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNAMES\tISSUER\tNOT AFTER\tDAYS LEFT\tNEXT RENEWAL\tLAST ERROR")
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t-\t-\n", e.Name, e.Error)
			continue
		}
		next, lastErr := "-", "-"
		if e.NextRenewal != nil {
			next = e.NextRenewal.UTC().Format("2006-01-02 15:04")
		}
		if e.LastError != "" {
			lastErr = oneLine(e.LastError, 80)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Name, strings.Join(e.Names, ","), e.Issuer, e.NotAfter.UTC().Format("2006-01-02 15:04"), e.DaysLeft, next, lastErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return loadErr
}

// listEntries describes the stored certificates. Those that cannot be
// read are left out and their errors returned (joined) with the entries
// of the others; the entries are nil only when the store cannot be
// listed at all.
func listEntries(ctx context.Context, certs *store.Certs, ca string, now time.Time) ([]listEntry, error) {
	all, loadErr := certs.ListCertificates(ctx, ca)
	if all == nil && loadErr != nil && !isLoadErrors(loadErr) {
		return nil, loadErr
	}
	entries := make([]listEntry, 0, len(all))
	statuses := map[string]map[string]manager.Status{} // CA -> name -> status
	for _, r := range all {
		e := listEntry{Name: r.Name, Names: r.Identifiers, CA: r.CA}
		byName, ok := statuses[r.CA]
		if !ok {
			// A state that cannot be read only loses its columns.
			sts, _ := manager.LoadStatus(ctx, certs, r.CA)
			byName = make(map[string]manager.Status, len(sts))
			for _, st := range sts {
				byName[st.Name] = st
			}
			statuses[r.CA] = byName
		}
		if st, ok := byName[r.Name]; ok {
			if !st.NextRenewal.IsZero() {
				next := st.NextRenewal
				e.NextRenewal = &next
			}
			e.LastError, e.Failures = st.LastError, st.Failures
		}
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
	return entries, loadErr
}

// isLoadErrors reports whether err, from Certs.ListCertificates, is the
// joined errors of certificates that failed to load rather than a
// failure to list the store.
func isLoadErrors(err error) bool {
	_, ok := err.(interface{ Unwrap() []error })
	return ok
}

// oneLine flattens s to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}
