// Package solver is the parent of the challenge solvers: http01 (files in
// a webroot, a handler to mount, a standalone server), tlsalpn01 (files
// for an external TLS server, a standalone listener, a hook for an
// existing tls.Config) and dns01 (callbacks with propagation waiting).
// Each implements challenge.Solver, and challenge.Waiter where a response
// takes time to appear, and has a SelfCheck that looks at the response as
// the CA will. Callback, here, solves any challenge type with two
// functions of your own.
package solver
