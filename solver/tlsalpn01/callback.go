package tlsalpn01

import (
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/internal/server"
)

// Callback solves tls-alpn-01 with functions of your own, for example to
// install the validation certificate on a load balancer. The functions
// must be safe for concurrent use; challenge.TLSALPN01Certificate makes
// the certificate. PresentFunc is required; a nil CleanUpFunc means
// nothing to clean up.
type Callback = server.Funcs

var _ challenge.Solver = Callback{}
