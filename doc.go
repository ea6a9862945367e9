// Package floodgate is the front door of Floodgate, a rate limiter for Go
// services: one [Limiter] type whose storage is chosen by a URI, as in the
// Python limits library.
//
//	memory://                       the in-memory engine (package engine)
//	redis://[user:pass@]host:port/db a shared Redis (package redisstore)
//
// Use package engine directly when a service only ever needs in-memory
// limits and wants the allocation-free, error-free hot path. Use a
// Limiter when storage is a deployment choice: the middleware in package
// httplimit takes one.
//
// # Concurrency
//
// A Limiter is safe for concurrent use. Close releases its background
// goroutines and connections.
package floodgate
