// Package archguard holds no code: its tests guard the architecture that
// docs/architecture.md draws. TestLayers reads the layer list of that
// document (between <!-- layers --> and <!-- /layers -->) and the imports
// of every package of every module of the repository, and fails when an
// import runs back up a layer, when the parts drawn side by side in one
// layer import each other in a cycle, when a package has no place in the
// list, or when a non-test Go file is longer than MaxLines without a
// reason written in the test.
//
// The guard reads the source; it runs nothing, so it is part of the unit
// tier (go test -short).
package archguard
