package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/providertest"
	"github.com/certkeeper/certkeeper/dnsprovider/webhook"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// TestConformance runs providertest against the provider posting to an
// endpoint that keeps the records in memory, as the documented protocol
// asks: add keeps other values, remove deletes the one value.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	records := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req webhook.Request
		if r.Header.Get("Authorization") != "Bearer s3cret" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch req.Action {
		case webhook.ActionAdd:
			records[req.FQDN] = append(records[req.FQDN], req.Value)
		case webhook.ActionRemove:
			records[req.FQDN] = slices.DeleteFunc(records[req.FQDN], func(v string) bool { return v == req.Value })
		}
	}))
	t.Cleanup(srv.Close)
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) dns01.Provider {
			return &webhook.Provider{URL: srv.URL, Header: http.Header{"Authorization": {"Bearer s3cret"}}}
		},
		Lookup: func(ctx context.Context, fqdn string) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(records[fqdn]), nil
		},
	})
}
