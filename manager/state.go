package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"crypto/x509"
	"github.com/certkeeper/certkeeper/store"
)

// stateDir is where a Manager keeps its own state in the store:
// manager/<ca>/<name>.json, with <ca> from store.CADirName and <name> from
// store.EncodeName.
const stateDir = "manager"

// state is what a Manager keeps about one certificate between runs, so that
// a restart neither forgets a backoff nor fetches renewal information
// before the CA said to.
type state struct {
	Name        string   `json:"name"`
	Identifiers []string `json:"identifiers,omitempty"`
	// Serial is the certificate the rest describes (hexadecimal): the ARI
	// fields and the alarms belong to one certificate.
	Serial    string    `json:"serial,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`

	NextRenewal time.Time `json:"next_renewal,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`

	ARIWindowStart time.Time `json:"ari_window_start,omitzero"`
	ARIWindowEnd   time.Time `json:"ari_window_end,omitzero"`
	// ARIRenewAt is the moment picked inside the window.
	ARIRenewAt time.Time `json:"ari_renew_at,omitzero"`
	// ARIRetryAfter is when to fetch the renewal information again.
	ARIRetryAfter time.Time `json:"ari_retry_after,omitzero"`
	// ExpiringSoonSent records that EventExpiringSoon was sent for this
	// certificate.
	ExpiringSoonSent bool `json:"expiring_soon_sent,omitempty"`
	// RenewDraw is the random number in (0, 1) that places this
	// certificate's renewal by the lifetime rule (Config.Jitter), drawn
	// once per certificate and kept so that every process sharing the
	// store, and every restart, renews it at the same moment, the one
	// NextRenewal shows.
	RenewDraw float64 `json:"renew_draw,omitempty"`
}

// forNewCertificate drops what belonged to the previous certificate and
// keeps the failure record.
func (s state) forNewCertificate() state {
	return state{
		Name: s.Name, Identifiers: s.Identifiers,
		LastAttempt: s.LastAttempt, LastSuccess: s.LastSuccess, LastError: s.LastError,
		Failures: s.Failures, NextAttempt: s.NextAttempt,
	}
}

func stateKey(caDir, enc string) string {
	return stateDir + "/" + caDir + "/" + enc + ".json"
}

// loadState reads e's state; a missing one is a zero state.
func (m *Manager) loadState(ctx context.Context, e *entry) (state, error) {
	data, err := m.cfg.Store.Get(ctx, stateKey(e.caDir, e.enc))
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return state{}, fmt.Errorf("%s: %w", stateKey(e.caDir, e.enc), err)
	}
	return s, nil
}

// saveState writes e's state as of now. A failure is logged: the state
// only saves work after a restart.
func (m *Manager) saveState(ctx context.Context, e *entry) {
	m.mu.Lock()
	s := e.st
	s.Name, s.Identifiers, s.NextRenewal = e.cert.Name, e.ids, e.due
	if e.held != nil {
		s.NotBefore, s.NotAfter = e.held.leaf.NotBefore, e.held.leaf.NotAfter
	}
	key := stateKey(e.caDir, e.enc)
	m.mu.Unlock()
	data, err := json.MarshalIndent(s, "", "  ")
	if err == nil {
		err = m.cfg.Store.Put(context.WithoutCancel(ctx), key, append(data, '\n'))
	}
	if err != nil {
		m.cfg.Logger.ErrorContext(ctx, "cannot save renewal state", "name", s.Name, "key", key, "error", err)
	}
}

// LoadStatus reads the state that Managers keep in s for the certificates
// of the CA with directory URL ca, without running a Manager: for a
// command that lists certificates with their next renewal and last error.
// Certificates for which no Manager has recorded anything yet (one that
// loaded them and had nothing to do) are not in it. States that cannot be
// read are left out and their errors joined into the returned error.
func LoadStatus(ctx context.Context, s store.Store, ca string) ([]Status, error) {
	caDir, err := store.CADirName(ca)
	if err != nil {
		return nil, err
	}
	keys, err := s.List(ctx, stateDir+"/"+caDir+"/")
	if err != nil {
		return nil, err
	}
	var (
		out  []Status
		errs []error
	)
	for _, k := range keys {
		if !strings.HasSuffix(k, ".json") {
			continue
		}
		data, err := s.Get(ctx, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var st state
		if err := json.Unmarshal(data, &st); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		out = append(out, Status{
			Name: st.Name, Identifiers: slices.Clone(st.Identifiers),
			NotBefore: st.NotBefore, NotAfter: st.NotAfter,
			NextRenewal: st.NextRenewal, LastSuccess: st.LastSuccess,
			LastError: st.LastError, Failures: st.Failures,
			ARIWindowStart: st.ARIWindowStart, ARIWindowEnd: st.ARIWindowEnd,
		})
	}
	return out, errors.Join(errs...)
}

// serial names a certificate in the state.
func serial(leaf *x509.Certificate) string {
	if leaf == nil || leaf.SerialNumber == nil {
		return ""
	}
	return leaf.SerialNumber.Text(16)
}
