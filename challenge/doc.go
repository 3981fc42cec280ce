// Package challenge holds what every ACME challenge type needs apart from
// a server: the names and values the CA looks for (RFC 8555 §8.3 and
// §8.4, RFC 8737, RFC 8738 and the dns-account-01 and dns-persist-01
// drafts), the Solver and Waiter contracts that solvers implement, and
// self-checks (CheckHTTP01, CheckDNS01, CheckTLSALPN01) that look at a
// response the way the CA will, so that a misconfiguration is found
// before the CA counts a failed validation against the account.
//
// Servers and record writers that satisfy the challenges live in the
// solver/... packages.
package challenge
