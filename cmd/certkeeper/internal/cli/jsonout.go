package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"math"
	"time"

	"github.com/certkeeper/certkeeper/engine"
)

// The JSON of every command follows the same conventions (docs/cli.md,
// "JSON output"): snake_case keys, every key always present, times in
// RFC 3339 UTC (null when they do not apply), and one object for a
// certificate: list's entry (listEntry), to which obtain, renew and
// revoke add what became of it (certResult).

// certResult is a certificate after obtain, renew or revoke: the entry
// list prints for it, and outcome and error.
type certResult struct {
	listEntry
	// Outcome is engine.Outcome (obtained, renewed, still_valid, not_due,
	// failed), or revoked for revoke.
	Outcome string `json:"outcome"`
	// Error is why it failed, or why a deploy hook failed although the
	// certificate is stored; "" otherwise.
	Error string `json:"error"`
}

// writeJSON writes v indented, with a final new line.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// emptyEntry is a listEntry with its lists empty rather than null.
func emptyEntry() listEntry { return listEntry{Names: []string{}, CertNames: []string{}} }

// resultOf is r as JSON: the store's entry for the certificate (as list
// shows it) if it has one, else what r says.
func resultOf(ctx context.Context, eng *engine.Engine, r engine.Result, defaultCA string) certResult {
	var entries []engine.Entry
	if eng != nil && r.Name != "" {
		ca := r.CA
		if ca == "" {
			ca = defaultCA
		}
		entries, _ = eng.List(ctx, engine.ListOptions{CA: ca, Names: []string{r.Name}, DefaultCA: defaultCA})
	}
	return resultFrom(r, entries)
}

// resultsOf is resultOf for every result, reading the store once.
func resultsOf(ctx context.Context, eng *engine.Engine, rs []engine.Result, defaultCA string) []certResult {
	entries, _ := eng.List(ctx, engine.ListOptions{DefaultCA: defaultCA})
	out := make([]certResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, resultFrom(r, entries))
	}
	return out
}

// resultFrom is r as JSON, with the entry of entries for its certificate
// if there is one.
func resultFrom(r engine.Result, entries []engine.Entry) certResult {
	out := certResult{listEntry: emptyEntry(), Outcome: string(r.Outcome)}
	found := false
	for _, e := range entries {
		if e.Name == r.Name && (r.CA == "" || e.CA == r.CA) {
			out.listEntry, found = toListEntry(e), true
			break
		}
	}
	if !found {
		out.Name, out.CA = r.Name, r.CA
		if r.Identifiers != nil {
			out.Names = r.Identifiers
		}
		out.Serial = r.Serial
		out.NotAfter = optTime(r.NotAfter)
		out.NextRenewal = optTime(r.NextRenewal)
		out.Status = string(engine.StatusMissing)
		if !r.NotAfter.IsZero() {
			out.Status = string(engine.StatusValid)
		}
	}
	switch {
	case r.Err != nil:
		out.Error = r.Err.Error()
	case r.HookErr != nil:
		out.Error = "the certificate is stored, but a deploy hook failed: " + r.HookErr.Error()
	}
	return out
}

// revokedResult is a certificate revoke revoked that the store does not
// hold, as JSON, from the certificate itself.
func revokedResult(leaf *x509.Certificate, name string, names []string, ca string, at time.Time, reason int) certResult {
	out := certResult{listEntry: emptyEntry(), Outcome: "revoked"}
	out.Name, out.CA, out.Status = name, ca, string(engine.StatusRevoked)
	if names != nil {
		out.Names, out.CertNames = names, names
	}
	out.Serial, out.Issuer = leaf.SerialNumber.Text(16), leaf.Issuer.CommonName
	out.NotBefore, out.NotAfter = optTime(leaf.NotBefore), optTime(leaf.NotAfter)
	out.DaysLeft = int(math.Floor(time.Until(leaf.NotAfter).Hours() / 24))
	out.Revoked, out.RevokedAt, out.RevocationReason = true, optTime(at), &reason
	return out
}

// optTime is t in UTC, nil if zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
