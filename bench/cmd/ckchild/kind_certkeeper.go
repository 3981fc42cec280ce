//go:build !ckchild_xcrypto && !ckchild_acmez

package main

import "github.com/certkeeper/certkeeper/bench"

// kind is the one client this build links.
var kind = bench.CertkeeperKind
