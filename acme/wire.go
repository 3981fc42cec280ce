package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The wire structs mirror the JSON the CA sends; the methods convert them
// into the public types so that the JSON quirks stay in this file.

// wireTime is an RFC 3339 timestamp that may also be "" or null (some CAs
// send empty strings for unset times); both mean zero. Anything else that
// is not RFC 3339 is an error.
type wireTime struct{ time.Time }

func (t *wireTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" || string(b) == `""` {
		t.Time = time.Time{}
		return nil
	}
	return t.Time.UnmarshalJSON(b)
}

// maxSubproblemDepth bounds recursion on hostile problem documents; RFC
// 8555 §6.7.1 uses one level.
const maxSubproblemDepth = 4

type wireProblem struct {
	Type        ProblemType   `json:"type"`
	Title       string        `json:"title"`
	Detail      string        `json:"detail"`
	Status      int           `json:"status"`
	Instance    string        `json:"instance"`
	Identifier  *Identifier   `json:"identifier"`
	Subproblems []wireProblem `json:"subproblems"`
}

func (w *wireProblem) problem(depth int) *Problem {
	p := &Problem{
		Type:     w.Type,
		Title:    w.Title,
		Detail:   w.Detail,
		Status:   w.Status,
		Instance: w.Instance,
	}
	if w.Identifier != nil {
		id := *w.Identifier
		p.Identifier = &id
	}
	if depth < maxSubproblemDepth {
		for i := range w.Subproblems {
			p.Subproblems = append(p.Subproblems, *w.Subproblems[i].problem(depth + 1))
		}
	}
	return p
}

// wireProblemPtr converts an optional embedded problem.
func wireProblemPtr(w *wireProblem) *Problem {
	if w == nil {
		return nil
	}
	return w.problem(0)
}

type wireDirectory struct {
	NewNonce    string `json:"newNonce"`
	NewAccount  string `json:"newAccount"`
	NewOrder    string `json:"newOrder"`
	NewAuthz    string `json:"newAuthz"`
	RevokeCert  string `json:"revokeCert"`
	KeyChange   string `json:"keyChange"`
	RenewalInfo string `json:"renewalInfo"`
	Meta        struct {
		TermsOfService          string            `json:"termsOfService"`
		Website                 string            `json:"website"`
		CAAIdentities           []string          `json:"caaIdentities"`
		ExternalAccountRequired bool              `json:"externalAccountRequired"`
		Profiles                map[string]string `json:"profiles"`
	} `json:"meta"`
}

// parseDirectory parses a directory object (RFC 8555 §7.1.1). The URLs
// every client needs (newNonce, newAccount, newOrder) must be present.
func parseDirectory(b []byte) (Directory, error) {
	var w wireDirectory
	if err := json.Unmarshal(b, &w); err != nil {
		return Directory{}, fmt.Errorf("acme: malformed directory: %w", err)
	}
	if w.NewNonce == "" || w.NewAccount == "" || w.NewOrder == "" {
		return Directory{}, errors.New("acme: directory lacks newNonce, newAccount or newOrder")
	}
	return Directory{
		NewNonce:    w.NewNonce,
		NewAccount:  w.NewAccount,
		NewOrder:    w.NewOrder,
		NewAuthz:    w.NewAuthz,
		RevokeCert:  w.RevokeCert,
		KeyChange:   w.KeyChange,
		RenewalInfo: w.RenewalInfo,
		Meta: DirectoryMeta{
			TermsOfService:          w.Meta.TermsOfService,
			Website:                 w.Meta.Website,
			CAAIdentities:           w.Meta.CAAIdentities,
			ExternalAccountRequired: w.Meta.ExternalAccountRequired,
			Profiles:                w.Meta.Profiles,
		},
	}, nil
}

type wireAccount struct {
	Status               Status          `json:"status,omitempty"`
	Contact              []string        `json:"contact,omitempty"`
	TermsOfServiceAgreed bool            `json:"termsOfServiceAgreed,omitempty"`
	OnlyReturnExisting   bool            `json:"onlyReturnExisting,omitempty"`
	Orders               string          `json:"orders,omitempty"`
	ExternalAccountBind  json.RawMessage `json:"externalAccountBinding,omitempty"`
}

func parseAccount(b []byte) (wireAccount, error) {
	var w wireAccount
	if err := json.Unmarshal(b, &w); err != nil {
		return w, fmt.Errorf("acme: malformed account: %w", err)
	}
	return w, nil
}

// apply copies the server's view of the account onto a.
func (w *wireAccount) apply(a Account) Account {
	a.Status = w.Status
	a.Contact = w.Contact
	a.TermsOfServiceAgreed = w.TermsOfServiceAgreed
	a.OrdersURL = w.Orders
	return a
}

type wireOrder struct {
	Status         Status       `json:"status"`
	Expires        wireTime     `json:"expires"`
	Identifiers    []Identifier `json:"identifiers"`
	NotBefore      wireTime     `json:"notBefore"`
	NotAfter       wireTime     `json:"notAfter"`
	Error          *wireProblem `json:"error"`
	Authorizations []string     `json:"authorizations"`
	Finalize       string       `json:"finalize"`
	Certificate    string       `json:"certificate"`
	Profile        string       `json:"profile"`
	Replaces       string       `json:"replaces"`
}

// parseOrder parses an order object (RFC 8555 §7.1.3); url is the order's
// URL, kept in the result.
func parseOrder(b []byte, url string) (Order, error) {
	var w wireOrder
	if err := json.Unmarshal(b, &w); err != nil {
		return Order{}, fmt.Errorf("acme: malformed order %s: %w", trimURL(url), err)
	}
	if w.Status == "" {
		return Order{}, fmt.Errorf("acme: order %s has no status", trimURL(url))
	}
	return Order{
		URL:            url,
		Status:         w.Status,
		Expires:        w.Expires.Time,
		Identifiers:    w.Identifiers,
		NotBefore:      w.NotBefore.Time,
		NotAfter:       w.NotAfter.Time,
		Error:          wireProblemPtr(w.Error),
		Authorizations: w.Authorizations,
		FinalizeURL:    w.Finalize,
		CertificateURL: w.Certificate,
		Profile:        w.Profile,
		Replaces:       w.Replaces,
	}, nil
}

type wireChallenge struct {
	Type              ChallengeType `json:"type"`
	URL               string        `json:"url"`
	Status            Status        `json:"status"`
	Token             string        `json:"token"`
	Validated         wireTime      `json:"validated"`
	Error             *wireProblem  `json:"error"`
	IssuerDomainNames []string      `json:"issuer-domain-names"`
}

func (w *wireChallenge) challenge() Challenge {
	return Challenge{
		Type:              w.Type,
		URL:               w.URL,
		Status:            w.Status,
		Token:             w.Token,
		Validated:         w.Validated.Time,
		Error:             wireProblemPtr(w.Error),
		IssuerDomainNames: w.IssuerDomainNames,
	}
}

// parseChallenge parses a challenge object (RFC 8555 §7.1.5). Only the
// server's fields are set.
func parseChallenge(b []byte, url string) (Challenge, error) {
	var w wireChallenge
	if err := json.Unmarshal(b, &w); err != nil {
		return Challenge{}, fmt.Errorf("acme: malformed challenge %s: %w", trimURL(url), err)
	}
	if w.Status == "" {
		return Challenge{}, fmt.Errorf("acme: challenge %s has no status", trimURL(url))
	}
	ch := w.challenge()
	if ch.URL == "" {
		ch.URL = url
	}
	return ch, nil
}

type wireAuthz struct {
	Identifier Identifier      `json:"identifier"`
	Status     Status          `json:"status"`
	Expires    wireTime        `json:"expires"`
	Challenges []wireChallenge `json:"challenges"`
	Wildcard   bool            `json:"wildcard"`
}

// parseAuthorization parses an authorization object (RFC 8555 §7.1.4).
// Only the server's fields are set; see fillChallenge for the rest.
func parseAuthorization(b []byte, url string) (Authorization, error) {
	var w wireAuthz
	if err := json.Unmarshal(b, &w); err != nil {
		return Authorization{}, fmt.Errorf("acme: malformed authorization %s: %w", trimURL(url), err)
	}
	if w.Status == "" {
		return Authorization{}, fmt.Errorf("acme: authorization %s has no status", trimURL(url))
	}
	a := Authorization{
		URL:        url,
		Identifier: w.Identifier,
		Status:     w.Status,
		Expires:    w.Expires.Time,
		Wildcard:   w.Wildcard,
	}
	for i := range w.Challenges {
		a.Challenges = append(a.Challenges, w.Challenges[i].challenge())
	}
	return a, nil
}

type wireRenewalInfo struct {
	SuggestedWindow *struct {
		Start wireTime `json:"start"`
		End   wireTime `json:"end"`
	} `json:"suggestedWindow"`
	ExplanationURL string `json:"explanationURL"`
}

// parseRenewalInfo parses an RFC 9773 §4.2 renewal info object. A window
// that is missing or ends before it starts is an error (§4.2: the client
// must treat it as invalid).
func parseRenewalInfo(b []byte) (RenewalInfo, error) {
	var w wireRenewalInfo
	if err := json.Unmarshal(b, &w); err != nil {
		return RenewalInfo{}, fmt.Errorf("acme: malformed renewal info: %w", err)
	}
	if w.SuggestedWindow == nil || w.SuggestedWindow.Start.Time.IsZero() || w.SuggestedWindow.End.Time.IsZero() {
		return RenewalInfo{}, errors.New("acme: renewal info has no suggestedWindow")
	}
	if w.SuggestedWindow.End.Before(w.SuggestedWindow.Start.Time) {
		return RenewalInfo{}, errors.New("acme: renewal info window ends before it starts")
	}
	var ri RenewalInfo
	ri.SuggestedWindow.Start = w.SuggestedWindow.Start.Time
	ri.SuggestedWindow.End = w.SuggestedWindow.End.Time
	ri.ExplanationURL = w.ExplanationURL
	return ri, nil
}
