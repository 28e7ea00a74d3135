module github.com/dpopkit/dpop

go 1.26.0

require (
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/redis/go-redis/v9 v9.23.0
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

ignore (
	./internal/pdstest/node/node_modules
	./interop/node_modules
	./tools/node22/node_modules
)
