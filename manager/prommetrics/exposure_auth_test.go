package prommetrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequireBasicAuth(t *testing.T) {
	h := RequireBasicAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) }), "prom", "s3cret")
	for _, tc := range []struct {
		user, pass string
		set        bool
		want       int
	}{
		{"", "", false, http.StatusUnauthorized},
		{"prom", "wrong", true, http.StatusUnauthorized},
		{"other", "s3cret", true, http.StatusUnauthorized},
		{"prom", "s3cret", true, http.StatusOK},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tc.set {
			r.SetBasicAuth(tc.user, tc.pass)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%q/%q: status %d, want %d", tc.user, tc.pass, w.Code, tc.want)
		}
		if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("401 without a WWW-Authenticate challenge")
		}
	}
}
