#!/bin/sh
# Reproduces every figure of BENCHMARKS.md. Run from anywhere; results go
# to ${OUT:-/tmp/dpop-bench}. Needs benchstat:
#   go install golang.org/x/perf/cmd/benchstat@latest
#
# Each benchmark binary is built once and run COUNT times with -count 1, so
# the runs of the implementations being compared interleave: a change in
# the machine's speed during the run (other work, a noisy neighbour) then
# spreads over every column instead of landing on one.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/dpop-bench}
count=${COUNT:-10}
mkdir -p "$out"

# runs BINARY FILE ARGS...: run the test binary COUNT times, appending to
# FILE (the first run's header lines are kept for benchstat).
runs() {
	bin=$1
	file=$2
	shift 2
	: >"$file"
	i=0
	while [ "$i" -lt "$count" ]; do
		"$bin" -test.run '^$' -test.benchmem -test.count 1 "$@" | tee -a "$file"
		i=$((i + 1))
	done
}

# 1. The core beside the bare crypto it wraps.
cd "$root"
go test -c -o "$out/core.test" .
runs "$out/core.test" "$out/core.txt" \
	-test.bench 'Verify(ES256|Ed25519|PS256)$|Proof(ES256|Ed25519|PS256)$|Raw|ReplayMemory$|Garbage'
benchstat "$out/core.txt" | tee "$out/core.benchstat.txt"
# The library call against the bare crypto call, as columns of one table.
sed -E 's#^BenchmarkVerify(ES256|Ed25519|PS256)-#BenchmarkVerify/\1/impl=dpop-#
	s#^BenchmarkRawVerify(ES256|Ed25519|PS256)-#BenchmarkVerify/\1/impl=raw-#
	s#^BenchmarkProof(ES256|Ed25519|PS256)-#BenchmarkSign/\1/impl=dpop-#
	s#^BenchmarkRawSign(ES256|Ed25519|PS256)-#BenchmarkSign/\1/impl=raw-#' \
	"$out/core.txt" > "$out/core.keyed.txt"
benchstat -col '/impl@(raw dpop)' -filter '/impl:(raw OR dpop)' "$out/core.keyed.txt" |
	tee "$out/core.vsraw.txt"

# 2. The same DPoP checks, and a whole resource server, on go-jose, jwx,
# golang-jwt (and proof creation with indigo's client).
cd "$root/bench"
go test -c -o "$out/compare.test" .
go test -c -o "$out/indigo.test" ./indigo
: >"$out/compare.txt"
i=0
while [ "$i" -lt "$count" ]; do
	"$out/compare.test" -test.run '^$' -test.bench . -test.benchmem -test.count 1 | tee -a "$out/compare.txt"
	"$out/indigo.test" -test.run '^$' -test.bench . -test.benchmem -test.count 1 | tee -a "$out/compare.txt"
	i=$((i + 1))
done
# Name the implementation as a key (…/ES256/impl=gojose) and fold the
# indigo package into the others, so benchstat puts the implementations in
# columns and compares each with dpop, the first column.
sed -E 's#^(Benchmark[A-Za-z]+/[A-Za-z0-9]+)/([a-z-]+)#\1/impl=\2#; s#^(pkg: .*/bench)/indigo$#\1#' \
	"$out/compare.txt" > "$out/compare.keyed.txt"
benchstat -col /impl "$out/compare.keyed.txt" | tee "$out/compare.benchstat.txt"

# 3. The loopback load tests, three rounds.
: >"$out/load.txt"
for round in 1 2 3; do
	echo "round $round" >>"$out/load.txt"
	DPOP_LOAD=1 go test -count=1 -run 'TestLoad' -v . | grep -E 'LOAD|^ok|FAIL' | tee -a "$out/load.txt"
done
