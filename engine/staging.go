package engine

import "github.com/certkeeper/certkeeper/acme"

// StagingNote is what front ends print beside a certificate from a
// staging CA (see IsStaging).
const StagingNote = "staging: not trusted by browsers"

// stagingCAs are the directory URLs of the public CAs' staging
// environments, whose certificates chain to roots no browser or system
// trusts: for tests, not for serving.
var stagingCAs = map[string]bool{
	acme.LetsEncryptStagingURL:                        true,
	"https://dv.acme-v02.test-api.pki.goog/directory": true, // Google Trust Services
}

// IsStaging reports whether ca, an ACME directory URL, is a public CA's
// staging environment (Let's Encrypt staging, the default CA of the
// certkeeper command), whose certificates no browser trusts.
func IsStaging(ca string) bool { return stagingCAs[ca] }
