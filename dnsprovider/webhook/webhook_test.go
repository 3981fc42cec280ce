package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/webhook"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

var (
	_ dns01.Provider     = (*webhook.Provider)(nil)
	_ dns01.ZoneOptional = (*webhook.Provider)(nil)
)

func TestAddRemove(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []webhook.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "bad request shape", http.StatusBadRequest)
			return
		}
		var req webhook.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p := &webhook.Provider{URL: srv.URL, Header: http.Header{"Authorization": {"Bearer s3cret"}}}
	ctx := context.Background()
	if err := p.AddTXT(ctx, "example.com.", "_acme-challenge.example.com.", "v"); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveTXT(ctx, "example.com.", "_acme-challenge.example.com.", "v"); err != nil {
		t.Fatal(err)
	}
	want := []webhook.Request{
		{Action: "add", Zone: "example.com.", FQDN: "_acme-challenge.example.com.", Value: "v"},
		{Action: "remove", Zone: "example.com.", FQDN: "_acme-challenge.example.com.", Value: "v"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("endpoint got %+v", got)
	}
}

func TestErrorQuotesBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "zone example.com not managed here", http.StatusForbidden)
	}))
	defer srv.Close()
	err := (&webhook.Provider{URL: srv.URL}).AddTXT(context.Background(), "example.com.", "_acme-challenge.example.com.", "v")
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "zone example.com not managed here") {
		t.Fatalf("got %v", err)
	}
}

// A password in the URL's userinfo must not appear in errors, which end up
// in logs.
func TestErrorsHideURLPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusForbidden)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:s3cretpw@", 1)
	for _, raw := range []string{u, "http://user:s3cretpw@bad host/"} {
		err := (&webhook.Provider{URL: raw}).AddTXT(context.Background(), "example.com.", "_acme-challenge.example.com.", "v")
		if err == nil {
			t.Fatalf("%s: no error", raw)
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// A token in the URL's query (or path) appears in no error either: not in
// the endpoint's refusal, not in a connection failure.
func TestErrorsHideURLQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusForbidden)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, raw := range []string{srv.URL + "/hook?token=s3cret", closed.URL + "/hook?token=s3cret", "http://bad host/?token=s3cret"} {
		err := (&webhook.Provider{URL: raw}).AddTXT(context.Background(), "example.com.", "_acme-challenge.example.com.", "v")
		if err == nil {
			t.Fatalf("%s: no error", raw)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the token: %v", err)
		}
	}
}
