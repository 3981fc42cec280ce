package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/store"
)

// listEntry is one certificate in "certkeeper list -json". Its keys are
// stable (docs/cli.md): every key is always present, null or empty when
// it does not apply.
type listEntry struct {
	Name    string   `json:"name"`
	Names   []string `json:"names"`
	CA      string   `json:"ca"`
	Account string   `json:"account"`
	// Status is engine.Status: valid, due, expired, revoked, missing,
	// failing.
	Status string `json:"status"`
	// Lineage reports whether the store has a lineage record for it.
	Lineage bool `json:"lineage"`
	// The certificate held: CertNames, Serial and Issuer are empty, the
	// times null and DaysLeft 0 when none is (status "missing").
	CertNames []string   `json:"cert_names"`
	Serial    string     `json:"serial"`
	Issuer    string     `json:"issuer"`
	NotBefore *time.Time `json:"not_before"`
	NotAfter  *time.Time `json:"not_after"`
	DaysLeft  int        `json:"days_left"`
	// NextRenewal is when renew or the daemon will order it; exact
	// (next_renewal_exact) when a manager's state records it for the
	// certificate held, else the latest moment the lifetime rule allows.
	NextRenewal      *time.Time `json:"next_renewal"`
	NextRenewalExact bool       `json:"next_renewal_exact"`
	LastError        string     `json:"last_error"`
	Failures         int        `json:"failures"`
	LastSuccess      *time.Time `json:"last_success"`
	Revoked          bool       `json:"revoked"`
	RevokedAt        *time.Time `json:"revoked_at"`
	// RevocationReason is the RFC 5280 CRLReason code, null unless
	// revoked.
	RevocationReason *int       `json:"revocation_reason"`
	Paths            *listPaths `json:"paths"`
}

// listPaths are store.CertPaths in "list -json"; "" where the layout has
// no such file.
type listPaths struct {
	Dir      string `json:"dir"`
	Live     string `json:"live"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	Combined string `json:"combined"`
	Meta     string `json:"meta"`
}

func listCommand() command {
	return command{
		name: "list", summary: "list stored certificates", args: "[NAME...]",
		about: `Lists the certificates of the store, of every CA (-ca selects one): each
one's status (valid, due, expired, revoked, missing, failing), expiry, next
renewal and last error. NAMEs select certificates by name or by any of
their names, and show their last error whole. Reads the store only.`,
		examples: []string{
			"certkeeper list",
			"certkeeper list -json | jq '.[] | select(.status != \"valid\") | .name'",
			"certkeeper list -ca letsencrypt example.com",
		},
		setup: setupList,
	}
}

func setupList(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var c common
	asJSON := fs.BoolP("json", false, "print JSON instead of a table")
	c.register(fs, env, useCA|useStore|useTimeout)
	return func(ctx context.Context, names []string) error {
		var err error
		for i, n := range names {
			if strings.HasPrefix(n, "*.") {
				names[i] = strings.ToLower(n)
			}
			if !isASCII(n) {
				// An internationalised name: the store has its punycode.
				if id, err := issue.ParseIdentifier(n); err == nil {
					names[i] = id.Value
				}
			}
			if _, err := store.EncodeName(names[i]); err != nil {
				return usagef("%q is not a certificate name: %v", n, err)
			}
		}
		set := fs.setMap()
		var opts engine.ListOptions
		opts.Names = names
		if set["ca"] && c.ca != "all" {
			if opts.CA, err = c.directoryURL(); err != nil {
				return err
			}
		}
		// The CA of certificates the shared layout holds without saying: the
		// one -ca names, as for renew.
		ca := c.ca
		if ca == "all" {
			ca = ""
		}
		if opts.DefaultCA, err = resolveCA(ca); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		eng, err := c.openEngineReadOnly(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		// Certificates that cannot be read are reported after the ones that
		// can, and make the command fail.
		entries, loadErr := eng.List(ctx, opts)
		if entries == nil && loadErr != nil {
			return loadErr
		}
		if len(entries) == 0 && loadErr == nil && opts.CA != "" {
			// As renew -ca says it: a CA the store has no certificate of.
			loadErr = noCertsFrom(ctx, eng, c.storeDir, opts.CA, opts.DefaultCA)
		}
		if *asJSON {
			out := make([]listEntry, 0, len(entries))
			for _, e := range entries {
				out = append(out, toListEntry(e))
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			return loadErr
		}
		if len(entries) == 0 {
			if loadErr == nil && !c.quiet {
				printf(env.Stdout, "no certificates in %s\n", c.storeDir)
			}
			return loadErr
		}
		if err := printTable(env, entries, len(names) > 0, time.Now()); err != nil {
			return err
		}
		return loadErr
	}
}

// printTable writes entries as a table. The last error is cut in the
// middle (its start says what failed, its end the deepest cause) unless
// whole is set.
func printTable(env Env, entries []engine.Entry, whole bool, now time.Time) error {
	aliases := map[string]string{}
	for name, u := range acme.DirectoryAliases() {
		aliases[u] = name
	}
	staging := false
	// tabwriter writes each cell and its padding apart: buffered, 100,000
	// lines are a few writes, not 1.5 million.
	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCA\tSTATUS\tNOT AFTER\tDAYS LEFT\tNEXT RENEWAL\tLAST ERROR")
	for _, e := range entries {
		ca := aliases[e.CA]
		if ca == "" {
			ca = shortCA(e.CA)
		}
		notAfter, daysLeft := "-", "-"
		if !e.NotAfter.IsZero() {
			notAfter, daysLeft = tableTime(e.NotAfter), fmt.Sprint(e.DaysLeft)
		}
		next := "-"
		switch {
		case e.NextRenewal.IsZero():
		case !e.NextRenewal.After(now):
			next = "now"
		case e.NextRenewalExact:
			next = tableTime(e.NextRenewal)
		default:
			// The lifetime rule's latest moment: the engine draws the
			// exact one, earlier, when it first loads the certificate.
			next = "by " + tableTime(e.NextRenewal)
		}
		lastErr := "-"
		if e.LastError != "" {
			lastErr = oneLine(e.LastError)
			if !whole {
				lastErr = cutMiddle(lastErr, 200)
			}
			if e.Failures > 1 {
				lastErr = fmt.Sprintf("(%d failures) %s", e.Failures, lastErr)
			}
		}
		if engine.IsStaging(e.CA) {
			ca += "*"
			staging = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, ca, e.Status, notAfter, daysLeft, next, lastErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if staging {
		fmt.Fprintf(env.Stdout, "* (%s): a staging CA's certificates are for tests; -ca letsencrypt obtains trusted ones\n", engine.StagingNote)
	}
	return nil
}

// toListEntry is e in the JSON format of list.
func toListEntry(e engine.Entry) listEntry {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC().Truncate(time.Second) // RFC 3339 to the second, as the certificate's own times
		return &t
	}
	le := listEntry{
		Name: e.Name, Names: e.Identifiers, CA: e.CA, Account: e.Account,
		Status: string(e.Status), Lineage: e.HasLineage,
		CertNames: e.CertIdentifiers, Serial: e.Serial, Issuer: e.Issuer,
		NotBefore: opt(e.NotBefore), NotAfter: opt(e.NotAfter), DaysLeft: e.DaysLeft,
		NextRenewal: opt(e.NextRenewal), NextRenewalExact: e.NextRenewalExact,
		LastError: e.LastError, Failures: e.Failures, LastSuccess: opt(e.LastSuccess),
	}
	if le.Names == nil {
		le.Names = []string{}
	}
	if le.CertNames == nil {
		le.CertNames = []string{}
	}
	if r := e.Revoked; r != nil {
		le.Revoked, le.RevokedAt = true, opt(r.At)
		reason := r.Reason
		le.RevocationReason = &reason
	}
	if p := e.Paths; p != nil {
		le.Paths = &listPaths{Dir: p.Dir, Live: p.Live, Cert: p.Cert, Key: p.Key, Combined: p.Combined, Meta: p.Meta}
	}
	return le
}

// shortCA shortens a directory URL for the table: host, port and path
// for https (which tell apart two directories on one host), the whole
// URL otherwise.
func shortCA(ca string) string {
	u, err := url.Parse(ca)
	if err != nil || u.Host == "" || u.Scheme != "https" || u.RawQuery != "" {
		return ca
	}
	return u.Host + strings.TrimSuffix(u.Path, "/")
}

func tableTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

// oneLine flattens s to one line: each run of white space (new lines of
// joined errors included) becomes one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cutMiddle shortens s to at most n bytes by replacing its middle with
// "...", keeping a third of it from the start and the rest from the end.
func cutMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head := n / 3
	tail := n - head - 3
	return strings.ToValidUTF8(s[:head], "") + "..." + strings.ToValidUTF8(s[len(s)-tail:], "")
}
