// Package kv is the engine's key-value face: int64 values with a time to
// live, read and written by get, set-if-absent and compare-and-swap, for
// limiters that keep their own arithmetic and need only a store (the
// GCRA of github.com/throttled/throttled keeps one timestamp per key,
// and adapters/throttled stores it here). It uses the engine's clock and
// key hashing (package shard) and none of its limits; package engine
// builds a KV from its options (internal/engineinternal.NewKV), so that
// an adapter takes the same options as an engine.
//
// An entry whose time to live has passed is absent: Get does not see it,
// CompareAndSwap fails on it and SetIfAbsent replaces it. The sweeper
// evicts such entries every sweep interval (Config.Every), so memory
// follows the live keys; Config.MaxKeys caps them (SetIfAbsent of a new
// key at the cap returns Config.Full).
//
// Time is the KV clock's reading in nanoseconds (Unix-epoch time with the
// default clock); the *At methods take it explicitly, on the same base,
// for a caller that has already read the time.
//
// Get takes no lock and allocates nothing; so do SetIfAbsent and
// CompareAndSwap of a known key, expired or not. Only the first
// SetIfAbsent of a key allocates its entry (about 80 bytes with the
// map's share). All methods are safe for concurrent use.
package kv
