#!/bin/sh
# Reproduces every figure of BENCHMARKS.md. Run from anywhere; results go
# to ${OUT:-/tmp/dpop-bench}. Needs benchstat:
#   go install golang.org/x/perf/cmd/benchstat@latest
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/dpop-bench}
count=${COUNT:-6}
mkdir -p "$out"

# 1. The core beside the bare crypto it wraps.
cd "$root"
go test -run '^$' -bench 'Verify(ES256|Ed25519|PS256)$|Proof(ES256|Ed25519|PS256)$|Raw|ReplayMemory$|Garbage' \
	-benchmem -count "$count" . | tee "$out/core.txt"
benchstat "$out/core.txt" | tee "$out/core.benchstat.txt"
# The library call against the bare crypto call, as columns of one table.
sed -E 's#^BenchmarkVerify(ES256|Ed25519|PS256)-#BenchmarkVerify/\1/impl=dpop-#
	s#^BenchmarkRawVerify(ES256|Ed25519|PS256)-#BenchmarkVerify/\1/impl=raw-#
	s#^BenchmarkProof(ES256|Ed25519|PS256)-#BenchmarkSign/\1/impl=dpop-#
	s#^BenchmarkRawSign(ES256|Ed25519|PS256)-#BenchmarkSign/\1/impl=raw-#' \
	"$out/core.txt" > "$out/core.keyed.txt"
benchstat -col '/impl@(raw dpop)' -filter '/impl:(raw OR dpop)' "$out/core.keyed.txt" |
	tee "$out/core.vsraw.txt"

# 2. The same DPoP checks on go-jose, jwx, golang-jwt (and indigo's client).
cd "$root/bench"
go test -run '^$' -bench . -benchmem -count "$count" ./... | tee "$out/compare.txt"
# Name the implementation as a key (…/ES256/impl=gojose) and fold the
# indigo package into the others, so benchstat puts the implementations in
# columns and compares each with dpop, the first column.
sed -E 's#^(Benchmark[A-Za-z]+/[A-Za-z0-9]+)/([a-z-]+)#\1/impl=\2#; s#^(pkg: .*/bench)/indigo$#\1#' \
	"$out/compare.txt" > "$out/compare.keyed.txt"
benchstat -col /impl "$out/compare.keyed.txt" | tee "$out/compare.benchstat.txt"

# 3. The loopback load test.
DPOP_LOAD=1 go test -count=1 -run 'TestLoad' -v . | grep -E 'LOAD|^ok|FAIL' | tee "$out/load.txt"
