package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/store"
)

// Revoke a certificate of the store, as "certkeeper revoke -reason
// superseded example.com" does: signed by the account that obtained it,
// sent only if the store can record it, recorded so that list shows it
// revoked and renew leaves it.
func ExampleEngine_Revoke() {
	ctx := context.Background()
	dir, err := store.OpenDir("/var/lib/certkeeper")
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	res, err := eng.Revoke(ctx, engine.RevokeRequest{
		Name:      "example.com",
		DefaultCA: acme.LetsEncryptURL,
		Reason:    acme.ReasonSuperseded,
	})
	var rec *engine.RevocationRecordError
	switch {
	case errors.As(err, &rec) && !rec.Sent:
		log.Fatalf("nothing sent: %v", err)
	case err != nil:
		log.Fatal(err)
	case res.AlreadyRevoked:
		fmt.Println(res.Name, "was already revoked; recorded now:", res.Recorded)
	default:
		fmt.Println("revoked", res.Name, res.Serial)
	}
}
