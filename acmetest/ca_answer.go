package acmetest

import (
	"maps"
	"net/http"
	"net/http/httptest"
)

// answer carries out a CAFault with Answer or Rewrite.
func (ca *CA) answer(w http.ResponseWriter, r *http.Request, endpoint Endpoint, id string, f *CAFault) {
	var a Answer
	if f.Answer != nil {
		a = Answer{Status: f.Answer.Status, Header: f.Answer.Header.Clone(), Body: f.Answer.Body}
		if a.Header == nil {
			a.Header = http.Header{}
		}
		if a.Header.Get("Replay-Nonce") == "" {
			ca.mu.Lock()
			a.Header.Set("Replay-Nonce", ca.newNonce())
			ca.mu.Unlock()
		}
	} else {
		rec := httptest.NewRecorder()
		ca.serve(rec, r, endpoint, id)
		a = Answer{Status: rec.Code, Header: rec.Header().Clone(), Body: rec.Body.Bytes()}
		f.Rewrite(&a)
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	maps.Copy(w.Header(), a.Header)
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}
