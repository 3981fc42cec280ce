package acme

import (
	"fmt"
	"time"
)

// ProblemType is the "type" URI of an RFC 7807 problem document. The ACME
// error types are listed in RFC 8555 §6.7.
type ProblemType string

// Problem is an RFC 7807 problem document returned by an ACME server
// (RFC 8555 §6.7). It is returned as an error; use errors.As to get it.
type Problem struct {
	Type        ProblemType
	Title       string
	Detail      string
	Status      int
	Instance    string
	Identifier  *Identifier // set on subproblems, §6.7.1
	Subproblems []Problem
	// RetryAfter is the time from the response's Retry-After header, zero
	// when there was none.
	RetryAfter time.Time
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("acme: %s", p.Type)
	if p.Status != 0 {
		s = fmt.Sprintf("acme: %d %s", p.Status, p.Type)
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	for _, sp := range p.Subproblems {
		s += "; " + sp.Error()
	}
	return s
}
