package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
)

// A certificate from the staging CA (the default) is labelled untrusted
// where obtain, renew and list print it; others are not.
func TestStagingLabelled(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		ca   string
		want bool
	}{{acme.LetsEncryptStagingURL, true}, {acme.LetsEncryptURL, false}, {"https://ca.example.test/dir", false}} {
		for _, o := range []engine.Outcome{engine.Obtained, engine.Renewed, engine.StillValid, engine.NotDue} {
			var b bytes.Buffer
			printResult(&b, engine.Result{Name: "a.example", CA: tc.ca, Identifiers: []string{"a.example"}, Outcome: o,
				NotAfter: now.Add(90 * 24 * time.Hour), NextRenewal: now.Add(60 * 24 * time.Hour)})
			got := strings.HasSuffix(b.String(), " (staging: not trusted by browsers)\n")
			if got != tc.want || strings.Count(b.String(), "\n") != 1 {
				t.Errorf("%s, %s: %q", tc.ca, o, b.String())
			}
		}
		var b bytes.Buffer
		err := printTable(Env{Stdout: &b}, []engine.Entry{{Name: "a.example", CA: tc.ca, Status: engine.StatusValid, NotAfter: now.Add(time.Hour)}}, false, now)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(b.String(), "letsencrypt-staging*") && strings.Contains(b.String(), "* (staging: not trusted by browsers)")
		if got != tc.want || (!tc.want && strings.Contains(b.String(), "staging")) {
			t.Errorf("list table of a certificate from %s:\n%s", tc.ca, b.String())
		}
	}
}
