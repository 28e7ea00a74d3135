// Package bench compares the dpop verifier and proof creation with the same
// DPoP checks written directly on three JOSE libraries: go-jose, jwx and
// golang-jwt. It holds only tests and benchmarks, in a module of its own so
// that the core module never depends on the libraries compared. See
// BENCHMARKS.md at the repository root for the method and the figures.
package bench
