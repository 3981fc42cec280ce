package issue

import (
	"context"

	"github.com/certkeeper/certkeeper/acme"
)

// resume fetches the order req.Resume names and reports whether it can
// be continued: pending or ready, or processing or valid when req gives
// the key (or CSR) to check its certificate against, for exactly
// req.Identifiers (and for req.Profile, when both it and the order name
// one).
func (is *Issuer) resume(ctx context.Context, req Request) (acme.Order, bool) {
	if req.Resume == "" {
		return acme.Order{}, false
	}
	log := is.logger()
	o, err := is.Client.GetOrder(ctx, is.Account, req.Resume)
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping (Ctrl-C, a deadline): no new order follows either.
	case err != nil:
		log.WarnContext(ctx, "the order of an earlier attempt cannot be fetched"+req.next(), "order", req.Resume, "error", err)
	case !sameIdentifierSet(o.Identifiers, req.Identifiers):
		log.InfoContext(ctx, "the order of an earlier attempt is for other identifiers"+req.next(), "order", req.Resume)
	case req.Profile != "" && o.Profile != "" && o.Profile != req.Profile:
		log.InfoContext(ctx, "the order of an earlier attempt is for another profile"+req.next(), "order", req.Resume, "profile", o.Profile)
	case (o.Status == acme.StatusProcessing || o.Status == acme.StatusValid) && req.Key == nil && len(req.CSR) == 0:
		log.InfoContext(ctx, "the order of an earlier attempt was finalized with a key not given now"+req.next(), "order", req.Resume, "status", o.Status)
	case o.Status != acme.StatusPending && o.Status != acme.StatusReady && o.Status != acme.StatusProcessing && o.Status != acme.StatusValid:
		log.InfoContext(ctx, "the order of an earlier attempt cannot be continued"+req.next(), "order", req.Resume, "status", o.Status)
	default:
		if o.URL == "" {
			o.URL = req.Resume
		}
		log.InfoContext(ctx, "resuming the order of an earlier attempt", "order", o.URL, "identifiers", len(req.Identifiers), "status", o.Status)
		return o, true
	}
	return acme.Order{}, false
}

// next says, for the log, what follows an order that is not resumed.
func (req Request) next() string {
	if req.ResumeOnly {
		return "; no new order is placed"
	}
	return "; placing a new one"
}
