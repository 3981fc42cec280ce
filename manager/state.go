package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"crypto/x509"

	"github.com/certkeeper/certkeeper/store"
)

// state is what a Manager keeps about one certificate between runs, so that
// a restart neither forgets a backoff nor fetches renewal information
// before the CA said to.
type state struct {
	Name string `json:"name"`
	// CA is the CA's directory URL; states written before it was kept
	// lack it.
	CA          string   `json:"ca,omitempty"`
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
	// ReplacesRefused records that the CA refused an order naming this
	// certificate as the one it replaces (RFC 9773 §5): later orders for
	// it do not name it.
	ReplacesRefused bool `json:"replaces_refused,omitempty"`
	// PendingOrder is the URL of the order an attempt placed and did not
	// see to the end (it was cancelled, or the process killed): the next
	// attempt continues it (issue.Request.Resume) rather than place
	// another. It is not about any certificate held, so a new
	// certificate keeps it (a success clears it).
	PendingOrder string `json:"pending_order,omitempty"`
	// PendingKey is the private key (PEM) that PendingOrder's
	// certificate request is made with, when the order uses a new key:
	// an order found already finalized (processing or valid) after an
	// interruption is then continued, and its certificate checked
	// against it, instead of being placed again. It is a secret: the
	// state is written to the store (files 0600 in a Dir) under the
	// certificate's lock and never logged. Set and cleared with
	// PendingOrder.
	PendingKey string `json:"pending_key,omitempty"`
	// Announced is the serial (hexadecimal) of the certificate whose
	// EventObtained or EventRenewed was last sent, its hooks run: the
	// attempt that stores a certificate writes it with the state it
	// saves after the hooks, in the same write. A certificate held whose
	// serial is not this one while PendingOrder names an order was
	// stored by an attempt killed before its hooks ended (see
	// unannounced). "" in states written before it was kept, or before
	// any certificate was announced: Serial stands for it then. It is
	// not about the certificate held, so a new certificate keeps it.
	Announced string `json:"announced,omitempty"`
}

// unannounced returns the event that the attempt which stored h, the
// certificate held, did not get to send when s is the state stored with
// it: EventRenewed (a certificate was announced before) or
// EventObtained (none was), or "" if h was announced or was not stored
// by an attempt of a Manager. An attempt records the order it places
// (PendingOrder) before the CA issues, stores the certificate, runs the
// hooks and only then saves the state, which names the certificate
// announced and no order: a state still naming an order and another
// certificate than h is what a kill (or a power loss) between the
// switch of the certificate and that save leaves. A certificate stored
// by something else than an order of a Manager (an import, another
// program in the shared layout) comes with no order in the state, and
// is not announced here.
func (s *state) unannounced(h *held) EventType {
	if h == nil || s.PendingOrder == "" {
		return ""
	}
	last := s.Announced
	if last == "" {
		last = s.Serial
	}
	switch serial(h.leaf) {
	case last:
		return ""
	case "":
		return ""
	}
	if last == "" {
		return EventObtained
	}
	return EventRenewed
}

// stateKey is where e's state is kept (see store.Certs.StateKey), for
// messages.
func (m *Manager) stateKey(c Spec) string {
	k, err := m.certs.StateKey(c.Issuer.Client.DirectoryURL, c.Name)
	if err != nil {
		return c.Issuer.Client.DirectoryURL + " " + c.Name
	}
	return k
}

// loadState reads e's state; a missing one is a zero state.
func (m *Manager) loadState(ctx context.Context, e *entry) (state, error) {
	c := m.specOf(e)
	data, err := m.certs.LoadState(ctx, c.Issuer.Client.DirectoryURL, c.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return state{}, fmt.Errorf("%s: %w", m.stateKey(c), err)
	}
	return s, nil
}

// saveState writes e's state as of now. A failure is logged: the state
// only saves work after a restart.
func (m *Manager) saveState(ctx context.Context, e *entry) { _ = m.saveStateErr(ctx, e) }

// saveStateErr is saveState that also returns the error it logged.
func (m *Manager) saveStateErr(ctx context.Context, e *entry) error {
	return m.writeState(ctx, e, true)
}

// writeState is saveStateErr; without index, the store's index is not
// written (store.Certs.SaveStateUnindexed): for a save that changes
// nothing of the schedule, the order placed.
func (m *Manager) writeState(ctx context.Context, e *entry, index bool) error {
	m.mu.Lock()
	if e.announce != "" {
		// The state of a certificate that its attempt did not announce
		// is written by the announcement, under the store's lock (see
		// announce.go): written before, it would overwrite the state
		// that the process which stored the certificate saved since.
		m.mu.Unlock()
		return nil
	}
	s := e.saving()
	// Only an attempt that holds the store's lock of the certificate's
	// orders places or forgets an order; any other save (renewal
	// information fetched, a failure to take that lock, a start) keeps
	// the order in flight that another process's attempt noted in the
	// stored state, which it would otherwise overwrite: had that process
	// died, the next attempt would not know the order, and what the CA
	// issued for it would be lost.
	keep := !e.ordering && s.PendingOrder == ""
	m.mu.Unlock()
	data, err := json.MarshalIndent(s, "", "  ")
	if err == nil {
		data = append(data, '\n')
		if keep {
			err = m.certs.UpdateState(context.WithoutCancel(ctx), s.CA, s.Name, func(stored []byte) ([]byte, error) {
				return keepOrder(s, stored, data)
			})
		} else {
			save := m.certs.SaveState
			if !index {
				save = m.certs.SaveStateUnindexed
			}
			err = save(context.WithoutCancel(ctx), s.CA, s.Name, data)
		}
	}
	if err != nil {
		key, _ := m.certs.StateKey(s.CA, s.Name)
		m.cfg.Logger.ErrorContext(ctx, "cannot save renewal state", "name", s.Name, "key", key, "error", err)
	}
	// The store records the schedule in its index too (store.Schedule):
	// the next start schedules from it without reading the state.
	return err
}

// keepOrder returns data, the state s marshalled, or s with the order in
// flight (and its key) that stored names, if it names one.
func keepOrder(s state, stored, data []byte) ([]byte, error) {
	var st state
	if stored == nil || json.Unmarshal(stored, &st) != nil || st.PendingOrder == "" {
		return data, nil
	}
	s.PendingOrder, s.PendingKey = st.PendingOrder, st.PendingKey
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// LoadStatus reads the state that Managers keep in certs for the
// certificates of the CA with directory URL ca, or of every CA if ca is
// "", without running a Manager: for a command that lists certificates
// with their next renewal and last error. Certificates for which no
// Manager has recorded anything yet (one that loaded them and had nothing
// to do) are not in it. Status.Serial is the certificate the state
// describes (its NextRenewal, NotBefore and NotAfter are that
// certificate's; compare it with the one stored before trusting them).
// Status.CA is the CA's directory URL, or, for a
// state written before Managers kept it, ca (or "" when ca is ""). States
// that cannot be read are left out and their errors joined into the
// returned error.
func LoadStatus(ctx context.Context, certs *store.Certs, ca string) ([]Status, error) {
	recs, err := certs.ListStates(ctx, ca)
	if recs == nil && err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(recs))
	errs := []error{err}
	for _, r := range recs {
		var st state
		if err := json.Unmarshal(r.Data, &st); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Key, err))
			continue
		}
		if st.CA == "" {
			st.CA = ca
		}
		if ca != "" && st.CA != ca {
			continue // another CA's, met where an older certkeeper kept it
		}
		out = append(out, st.status())
	}
	return out, errors.Join(errs...)
}

func (st *state) status() Status {
	return Status{
		CA:   st.CA,
		Name: st.Name, Identifiers: slices.Clone(st.Identifiers),
		NotBefore: st.NotBefore, NotAfter: st.NotAfter,
		Serial:      st.Serial,
		NextRenewal: st.NextRenewal, LastSuccess: st.LastSuccess,
		LastError: st.LastError, Failures: st.Failures,
		ARIWindowStart: st.ARIWindowStart, ARIWindowEnd: st.ARIWindowEnd,
		PendingOrder: st.PendingOrder,
	}
}

// LoadStatusOf reads the state that Managers keep in certs for the
// certificate called name from the CA with directory URL ca, as
// LoadStatus does for many: for a listing of a few names. ok is false
// when no Manager recorded anything for it; a state that cannot be read
// is an error.
func LoadStatusOf(ctx context.Context, certs *store.Certs, ca, name string) (st Status, ok bool, err error) {
	data, err := certs.LoadState(ctx, ca, name)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		key, _ := certs.StateKey(ca, name)
		return Status{}, false, fmt.Errorf("%s: %w", key, err)
	}
	if s.CA == "" {
		s.CA = ca
	}
	if s.CA != ca {
		return Status{}, false, nil
	}
	return s.status(), true, nil
}

// serial names a certificate in the state.
func serial(leaf *x509.Certificate) string {
	if leaf == nil || leaf.SerialNumber == nil {
		return ""
	}
	return leaf.SerialNumber.Text(16)
}
