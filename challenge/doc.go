// Package challenge is the RFC's side of the ACME challenges, with no
// network in it: the names and values the CA looks for (RFC 8555 §8.3 and
// §8.4, RFC 8737, RFC 8738 and the dns-account-01 and dns-persist-01
// drafts), the validation certificate of tls-alpn-01, and the Solver and
// Waiter contracts that solvers implement. It imports only the standard
// library and acme (which computes the key authorization, the dns-01
// value and the dns-account-01 label: one place for each).
//
// Servers, record writers and the self-checks that look at a response the
// way the CA will (http01.SelfCheck, tlsalpn01.SelfCheck,
// dns01.SelfCheck) live with their solvers in the solver/... packages.
package challenge
