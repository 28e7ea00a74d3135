module github.com/dpopkit/dpop

go 1.26
