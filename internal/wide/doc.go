// Package wide is the engine's table of two-word cells: the state of a
// limit whose count does not fit the 63-bit cell of a shard.Table (see
// engine/wide.go). It is package shard's Table with 24-byte slots, a
// 62-bit head word and a 64-bit tail word per key, read and written
// together under a lock bit of the cell itself; it lives under internal/
// because only the engine needs it, and it adds nothing to the module's
// API.
//
// Keys are shard.Hash values; the table stores the hash, never the key.
// Tables are sharded, capped and shrunk as shard.Tables are, and probe
// the same way (probe.go): buckets of four slots picked by multiply-shift,
// a load between 2/3 and 7/8, so a live key costs between 27.4 and 36
// bytes, with no allocation per key.
//
// # Concurrency
//
// All methods are safe for concurrent use. [Table.Find] is lock-free.
// A cell's update is [Cell.Lock] (or [Cell.TryLock]), then
// [Cell.Unlock] with the new words: one compare-and-swap and one store
// (two when the tail changes); an update that keeps the tail may instead
// read a snapshot ([Cell.Read]) and swap the head alone
// ([Cell.CompareAndSwapHead]), taking no lock. Inserts, deletions, sweeps and rebuilds
// take one shard's mutex; a rebuild or an eviction waits for a locked
// cell, then retires it (Lock reports false) before it publishes the
// new array or the tombstone, so no update is lost.
package wide
