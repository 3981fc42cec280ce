package http01

import (
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/internal/server"
)

// Callback solves http-01 with functions of your own, for example to
// push the response to a fleet of web servers or an object store. The
// functions must be safe for concurrent use. Use challenge.HTTP01Path for
// the path and chal.KeyAuthorization for the body. PresentFunc is
// required; a nil CleanUpFunc means nothing to clean up.
type Callback = server.Funcs

var _ challenge.Solver = Callback{}
