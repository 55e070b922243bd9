// Package goclient is a Go client of the Plainview API, generated from
// openapi.yaml by oapi-codegen (pinned in go.mod as a tool, so `go
// generate` needs nothing but the module proxy). Its test regenerates it
// and fails while this copy is stale, then uses it against the local stack:
// the document is checked by a client nobody here wrote by hand.
//
// Regenerate with `make generate` (which runs go generate here after it
// writes openapi.yaml).
package goclient

//go:generate go tool oapi-codegen -generate types,client -package goclient -o client.gen.go ../../../../openapi.yaml
