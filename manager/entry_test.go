package manager

import (
	"crypto/x509"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

var entryT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testHeld is a certificate held, valid from nb to na (unsigned: the
// transitions look at its serial and validity only).
func testHeld(sn int64, nb, na time.Time) *held {
	return &held{covers: true, leaf: &x509.Certificate{SerialNumber: big.NewInt(sn), NotBefore: nb, NotAfter: na}}
}

// fullState is a state with every field set, about the certificate of
// serial sn.
func fullState(sn int64) state {
	t := entryT0.Add(-time.Hour)
	return state{
		Name: "a.example.com", Identifiers: []string{"a.example.com"}, CA: "https://ca.example.test/dir",
		Serial:    big.NewInt(sn).Text(16),
		NotBefore: t.Add(-24 * time.Hour), NotAfter: t.Add(48 * time.Hour), NextRenewal: t,
		LastAttempt: t, LastSuccess: t.Add(-time.Hour), LastError: "boom", Failures: 3, NextAttempt: t.Add(time.Hour),
		ARIWindowStart: t, ARIWindowEnd: t.Add(time.Hour), ARIRenewAt: t.Add(time.Minute), ARIRetryAfter: t.Add(2 * time.Hour),
		ExpiringSoonSent: true, RenewDraw: 0.25, ReplacesRefused: true,
		PendingOrder: "https://ca.example.test/order/1", PendingKey: "-----BEGIN PRIVATE KEY-----",
		Announced: big.NewInt(sn).Text(16),
	}
}

func TestNewCertificateKeepsFailuresAndOrderInFlight(t *testing.T) {
	old := testHeld(1, entryT0.Add(-60*24*time.Hour), entryT0.Add(30*24*time.Hour))
	st := fullState(1)
	e := &entry{held: old, st: &st, index: -1}
	h := testHeld(2, entryT0, entryT0.Add(90*24*time.Hour))
	e.newCertificate(h)
	got := *e.st
	if e.held != h || e.lazy != nil {
		t.Fatalf("held %v lazy %v, want the new certificate, no summary", e.held, e.lazy)
	}
	if got.Serial != "2" {
		t.Errorf("Serial %q, want the new certificate's, 2", got.Serial)
	}
	// Kept: what is about the name, not about a certificate.
	if got.Failures != 3 || got.LastError != "boom" || !got.NextAttempt.Equal(st.NextAttempt) ||
		!got.LastAttempt.Equal(st.LastAttempt) || !got.LastSuccess.Equal(st.LastSuccess) {
		t.Errorf("failure record lost: %+v", got)
	}
	if got.PendingOrder != st.PendingOrder || got.PendingKey != st.PendingKey {
		t.Errorf("order in flight lost: %q %q", got.PendingOrder, got.PendingKey)
	}
	if got.Announced != st.Announced {
		t.Errorf("certificate announced last: %q, want %q kept", got.Announced, st.Announced)
	}
	// Dropped: what was about the previous certificate.
	if !got.ARIWindowStart.IsZero() || !got.ARIWindowEnd.IsZero() || !got.ARIRenewAt.IsZero() || !got.ARIRetryAfter.IsZero() {
		t.Errorf("renewal information of the previous certificate kept: %+v", got)
	}
	if got.ExpiringSoonSent || got.ReplacesRefused || got.RenewDraw != 0 {
		t.Errorf("alarm, refused replaces or draw of the previous certificate kept: %+v", got)
	}
	if st.Serial != "1" || st.Failures != 3 {
		t.Error("newCertificate changed the previous state in place")
	}
}

func TestSucceededClearsFailuresAndOrderInFlight(t *testing.T) {
	st := fullState(1)
	e := &entry{st: &st, index: -1}
	now := entryT0.Add(time.Minute)
	e.succeeded(now)
	if st.Failures != 0 || st.LastError != "" || !st.NextAttempt.IsZero() {
		t.Errorf("failures kept after a success: %d %q %v", st.Failures, st.LastError, st.NextAttempt)
	}
	if st.PendingOrder != "" || st.PendingKey != "" {
		t.Errorf("order in flight kept after a success: %q %q", st.PendingOrder, st.PendingKey)
	}
	if !st.LastAttempt.Equal(now) || !st.LastSuccess.Equal(now) {
		t.Errorf("LastAttempt %v LastSuccess %v, want %v", st.LastAttempt, st.LastSuccess, now)
	}

	// Taking another process's certificate ends the failures but is no
	// attempt of this one's.
	st = fullState(1)
	e = &entry{st: &st, index: -1}
	e.recovered()
	if st.Failures != 0 || st.LastError != "" || !st.NextAttempt.IsZero() {
		t.Errorf("recovered kept failures: %+v", st)
	}
	if !st.LastAttempt.Equal(fullState(1).LastAttempt) || st.PendingOrder == "" {
		t.Errorf("recovered changed the last attempt or the order in flight: %+v", st)
	}
}

func testManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = store.NewMemory()
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAttemptFailedBacksOff(t *testing.T) {
	m := testManager(t, Config{Rand: func() float64 { return 0.5 }})
	// A certificate with most of its life left: no alarm, and the
	// backoff is not shortened by its expiry.
	h := testHeld(1, entryT0.Add(-24*time.Hour), entryT0.Add(300*24*time.Hour))
	st := state{Serial: "1", PendingOrder: "https://ca.example.test/order/7", PendingKey: "k"}
	e := &entry{held: h, st: &st, index: -1, r: 0.5}
	var waits []time.Duration
	for i := 1; i <= 5; i++ {
		now := entryT0.Add(time.Duration(i) * time.Second)
		if alarm := m.attemptFailedLocked(e, errors.New("refused"), time.Time{}, now); alarm != "" {
			t.Errorf("failure %d: alarm %q for a certificate far from expiry", i, alarm)
		}
		if st.Failures != i || st.LastError != "refused" || !st.LastAttempt.Equal(now) {
			t.Fatalf("failure %d: Failures %d LastError %q LastAttempt %v", i, st.Failures, st.LastError, st.LastAttempt)
		}
		if e.due.Before(st.NextAttempt) {
			t.Errorf("failure %d: due %v before the next attempt %v", i, e.due, st.NextAttempt)
		}
		waits = append(waits, st.NextAttempt.Sub(now))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] {
			t.Errorf("backoff shrank: %v", waits)
		}
	}
	if waits[len(waits)-1] <= waits[0] {
		t.Errorf("backoff did not grow: %v", waits)
	}
	if st.PendingOrder == "" || st.PendingKey == "" {
		t.Error("a failure forgot the order in flight, which the next attempt continues")
	}
	// The CA's Retry-After comes first.
	ra := entryT0.Add(1000 * time.Hour)
	m.attemptFailedLocked(e, errors.New("rate limited"), ra, entryT0)
	if !st.NextAttempt.Equal(ra) {
		t.Errorf("NextAttempt %v, want the CA's Retry-After %v", st.NextAttempt, ra)
	}
}

func TestAttemptFailedAlarms(t *testing.T) {
	m := testManager(t, Config{})
	// 90 days, a sixth of it is the panic interval: 20 days left is
	// inside twice that (expiring soon), 5 days inside it (panic).
	nb := entryT0.Add(-70 * 24 * time.Hour)
	h := testHeld(1, nb, nb.Add(90*24*time.Hour))
	st := state{Serial: "1"}
	e := &entry{held: h, st: &st, index: -1}
	if a := m.attemptFailedLocked(e, errors.New("x"), time.Time{}, entryT0); a != EventExpiringSoon {
		t.Fatalf("first failure 20 days before expiry: alarm %q, want %q", a, EventExpiringSoon)
	}
	if a := m.attemptFailedLocked(e, errors.New("x"), time.Time{}, entryT0.Add(time.Hour)); a != "" {
		t.Errorf("second failure: alarm %q, want none (expiring soon is sent once)", a)
	}
	late := nb.Add(85 * 24 * time.Hour)
	if a := m.attemptFailedLocked(e, errors.New("x"), time.Time{}, late); a != EventPanic || !e.panicAt.Equal(late) {
		t.Errorf("failure 5 days before expiry: alarm %q panicAt %v, want %q at %v", a, e.panicAt, EventPanic, late)
	}
	// A new certificate may expire soon again.
	e.newCertificate(testHeld(2, entryT0, entryT0.Add(90*24*time.Hour)))
	if a := m.attemptFailedLocked(e, errors.New("x"), time.Time{}, entryT0.Add(70*24*time.Hour)); a != EventExpiringSoon {
		t.Errorf("new certificate: alarm %q, want %q", a, EventExpiringSoon)
	}
}

func TestAdoptState(t *testing.T) {
	h := testHeld(1, entryT0.Add(-24*time.Hour), entryT0.Add(60*24*time.Hour))
	mine := func() *entry {
		st := state{Serial: "1", LastAttempt: entryT0, ARIWindowStart: entryT0, ARIWindowEnd: entryT0.Add(time.Hour),
			ARIRenewAt: entryT0.Add(time.Minute), ARIRetryAfter: entryT0.Add(6 * time.Hour)}
		return &entry{held: h, st: &st, index: -1}
	}
	later := entryT0.Add(time.Minute)

	e := mine()
	if e.adoptState(state{Serial: "2", LastAttempt: later, Failures: 4}) || e.st.Failures != 0 {
		t.Error("took a state about another certificate")
	}
	if e.adoptState(state{Serial: "1", LastAttempt: entryT0, Failures: 4}) || e.st.Failures != 0 {
		t.Error("took a state not written after this one's last attempt")
	}
	if !e.adoptState(state{Serial: "1", LastAttempt: later, Failures: 4, ARIWindowEnd: later}) ||
		e.st.Failures != 4 || !e.st.ARIWindowEnd.Equal(later) {
		t.Errorf("did not take a newer state about the certificate held: %+v", e.st)
	}

	// A state about no certificate (a failure only) keeps what is about
	// the certificate held.
	e = mine()
	if !e.adoptState(state{LastAttempt: later, Failures: 2, LastError: "dns"}) {
		t.Fatal("did not take a newer failure")
	}
	if e.st.Failures != 2 || e.st.LastError != "dns" || e.st.Serial != "1" ||
		!e.st.ARIWindowStart.Equal(entryT0) || !e.st.ARIRetryAfter.Equal(entryT0.Add(6*time.Hour)) {
		t.Errorf("took a failure but lost the certificate's own fields: %+v", e.st)
	}
}

func TestLoadedStateOfAnotherCertificate(t *testing.T) {
	h := testHeld(2, entryT0, entryT0.Add(90*24*time.Hour))
	// Without an order in flight: the certificate was stored by another
	// process that announced it, or by something else than a Manager.
	noOrder := fullState(1)
	noOrder.PendingOrder, noOrder.PendingKey = "", ""
	e := &entry{index: -1}
	e.loaded(h, noOrder)
	if !e.staleState || e.announce != "" || e.st.Serial != "2" || !e.st.ARIWindowEnd.IsZero() || e.st.Failures != 3 {
		t.Errorf("state of the replaced certificate: stale %v, announce %q, %+v", e.staleState, e.announce, e.st)
	}
	if !e.takeStale() || e.takeStale() {
		t.Error("takeStale does not report the mark once")
	}

	// With the order in flight that gave it: stored by an attempt killed
	// before it announced it. The announcement writes the state.
	e = &entry{index: -1}
	e.loaded(h, fullState(1))
	if e.staleState || e.announce != EventRenewed || e.st.Serial != "2" || e.st.PendingOrder == "" || e.st.Announced != "1" {
		t.Errorf("state of a certificate not announced: stale %v, announce %q, %+v", e.staleState, e.announce, e.st)
	}

	e = &entry{index: -1}
	e.loaded(h, fullState(2))
	if e.staleState || !reflect.DeepEqual(*e.st, fullState(2)) {
		t.Errorf("state of the certificate held not kept: stale %v, %+v", e.staleState, e.st)
	}

	e = &entry{index: -1}
	e.loaded(nil, fullState(1))
	if e.staleState || e.held != nil || e.st.Serial != "" || e.st.Failures != 3 {
		t.Errorf("state without a certificate: stale %v, %+v", e.staleState, e.st)
	}
}

func TestARIReceived(t *testing.T) {
	h := testHeld(1, entryT0.Add(-24*time.Hour), entryT0.Add(60*24*time.Hour))
	st := state{Serial: "1"}
	e := &entry{held: h, st: &st, index: -1}
	picks := 0
	pick := func() time.Time { picks++; return entryT0.Add(time.Duration(picks) * time.Minute) }
	start, end := entryT0.Add(40*24*time.Hour), entryT0.Add(42*24*time.Hour)
	if !e.ariReceived(h, start, end, entryT0.Add(time.Hour), pick) || picks != 1 || !st.ARIRenewAt.Equal(entryT0.Add(time.Minute)) {
		t.Fatalf("first window: picks %d, %+v", picks, st)
	}
	if e.ariFor != serial(h.leaf) || !e.ariOK {
		t.Error("the answer for h is not recorded")
	}
	// The same window again keeps its moment (no new draw).
	if e.ariReceived(h, start, end, entryT0.Add(2*time.Hour), pick) || picks != 1 ||
		!st.ARIRenewAt.Equal(entryT0.Add(time.Minute)) || !st.ARIRetryAfter.Equal(entryT0.Add(2*time.Hour)) {
		t.Errorf("same window: picks %d, %+v", picks, st)
	}
	// A failed fetch keeps the window.
	e.ariFailed(h, false, entryT0.Add(3*time.Hour))
	if e.ariOK || !st.ARIWindowEnd.Equal(end) || !st.ARIRetryAfter.Equal(entryT0.Add(3*time.Hour)) {
		t.Errorf("failed fetch: ok %v, %+v", e.ariOK, st)
	}
	// A CA that stops offering it: no window any more.
	e.ariNotOffered(h, entryT0.Add(4*time.Hour))
	if e.ariOK || !st.ARIWindowStart.IsZero() || !st.ARIWindowEnd.IsZero() || !st.ARIRenewAt.IsZero() ||
		!st.ARIRetryAfter.Equal(entryT0.Add(4*time.Hour)) {
		t.Errorf("not offered: ok %v, %+v", e.ariOK, st)
	}
}

func TestFromIndexScheduleOfAnotherCertificate(t *testing.T) {
	lz := &lazy{notBefore: entryT0, notAfter: entryT0.Add(90 * 24 * time.Hour), serial: "2"}
	e := &entry{index: -1}
	e.fromIndex(lz, 0.3, store.Schedule{Serial: "1", Failures: 2, RenewAt: entryT0})
	if e.st != nil || e.lazy != lz || e.r != 0.3 {
		t.Errorf("schedule of another certificate taken: st %+v lazy %v r %v", e.st, e.lazy, e.r)
	}
	e.fromIndex(lz, 0.3, store.Schedule{Serial: "2", Failures: 2, LastError: "x", RenewAt: entryT0})
	if e.st == nil || e.st.Failures != 2 || !e.st.ARIRenewAt.Equal(entryT0) || e.st.Serial != "2" || e.st.RenewDraw != 0.3 {
		t.Errorf("schedule of the certificate not taken: %+v", e.st)
	}
	e.notFromIndex()
	if e.st != nil || e.lazy != nil {
		t.Error("notFromIndex left a summary or a state")
	}
}

func TestUnannounced(t *testing.T) {
	h := testHeld(2, entryT0, entryT0.Add(90*24*time.Hour))
	const order = "https://ca.example.test/order/1"
	for _, tc := range []struct {
		name string
		st   state
		h    *held
		want EventType
	}{
		{"announced", state{Serial: "2", Announced: "2"}, h, ""},
		{"announced, an order in flight since", state{Serial: "2", Announced: "2", PendingOrder: order}, h, ""},
		{"renewal killed before its state", state{Serial: "1", Announced: "1", PendingOrder: order}, h, EventRenewed},
		{"obtain killed before its state", state{PendingOrder: order}, h, EventObtained},
		{"state of an older version, renewal killed", state{Serial: "1", PendingOrder: order}, h, EventRenewed},
		{"state of an older version, announced", state{Serial: "2", PendingOrder: order}, h, ""},
		{"stored by something else", state{Serial: "1", Announced: "1"}, h, ""},
		{"nothing held", state{Serial: "1", Announced: "1", PendingOrder: order}, nil, ""},
	} {
		if got := tc.st.unannounced(tc.h); got != tc.want {
			t.Errorf("%s: unannounced = %q, want %q", tc.name, got, tc.want)
		}
	}
}
