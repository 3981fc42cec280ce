package solver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
)

func TestCallback(t *testing.T) {
	ctx := context.Background()
	var got []string
	cb := Callback{
		PresentFunc: func(ctx context.Context, c acme.Challenge) error { got = append(got, "present "+c.Token); return nil },
		CleanUpFunc: func(ctx context.Context, c acme.Challenge) error { got = append(got, "cleanup "+c.Token); return nil },
	}
	c := acme.Challenge{Type: acme.ChallengeHTTP01, Token: "tok", Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}}
	if err := cb.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := cb.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "present tok,cleanup tok" {
		t.Fatalf("calls: %q", got)
	}
	failing := errors.New("load balancer refused")
	cb.PresentFunc = func(context.Context, acme.Challenge) error { return failing }
	if err := cb.Present(ctx, c); !errors.Is(err, failing) {
		t.Errorf("Present = %v, want PresentFunc's error", err)
	}
	if err := (Callback{}).Present(ctx, c); err == nil || !strings.Contains(err.Error(), "PresentFunc is nil") {
		t.Errorf("nil PresentFunc: %v", err)
	}
	if err := (Callback{}).CleanUp(ctx, c); err != nil {
		t.Errorf("nil CleanUpFunc: %v", err)
	}
}
