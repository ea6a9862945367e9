// Package shard owns Floodgate's key table: hashing of attacker-chosen
// keys, a power-of-two array of cache-line-padded shards, each an
// open-addressing hash table of 16-byte slots, the life cycle of the
// [Cell] that each key owns, and the eviction of idle cells. It knows
// nothing about rate-limit algorithms: a cell is an opaque atomic 63-bit
// word, and time reaches it only through the caller's idle predicate.
//
// The API is a read-modify-write loop:
//
//	c := t.Find(h) // lock-free; nil when h is unknown
//	for {
//		v, ok := c.Load()
//		if !ok { // unknown, or retired by a rebuild or an eviction
//			if c, v, err = t.Get(h); err != nil { ... } // locks; inserts 0
//		}
//		if c.CompareAndSwap(v, f(v)) { break }
//	}
//
// (or simply c, v, err := t.Get(h) at the top of each pass, one call more
// per pass).
//
// # Keys
//
// A key is identified by its 64-bit [Hash], computed with hash/maphash
// under a seed drawn once per process, so that nobody can choose keys that
// land on one shard or one probe chain. The table stores the hash, never
// the key bytes: that is what keeps a live key at 16 bytes of slot plus
// the table's free space. Two different keys share a cell only if their
// seeded 64-bit hashes are equal; among n live keys that happens with
// probability about n²/2⁶⁵ (3·10⁻⁸ at one million keys), and an attacker
// who does not know the seed cannot aim for it.
//
// # Concurrency
//
// All methods are safe for concurrent use. [Table.Find] is lock-free: it
// loads the shard's slot array and probes it with atomic loads. Only
// [Table.Get] of a new key or a retired cell, [Table.Delete],
// [Table.Sweep] and the rebuilds they trigger take the shard's mutex, one
// shard at a time.
//
// A rebuild (growth, shrinking, or purging tombstones) and an eviction
// retire each cell they move or remove, by setting a bit that the table
// reserves (bit 63) with a compare-and-swap, before publishing the new
// slot array or the tombstone. The bit never reaches callers: a retired
// cell's Load reports false and its CompareAndSwap fails, and no value a
// caller stores can set it, so callers cannot break the invariant. Get
// then waits for the rebuild and returns the key's current cell. So no
// update is ever lost: a CAS that lands before the retirement is copied,
// and a CAS after it fails. Tombstoned slots are never reused in place, only
// dropped by the next rebuild, so a cell found for one key never comes to
// hold another key's state.
//
// # Probing and memory
//
// A shard's slot array is probed linearly from the start of a bucket of
// four slots (64 bytes, one cache line) that the low 32 bits of the hash
// pick by multiply-shift, so the array need not be a power of two. A
// shard grows when it would be more than 7/8 full and a rebuild sizes it
// for 2/3, so a live key costs between 18.3 and 24 bytes at any number of
// keys, and most lookups still read one cache line. Padding slots follow
// the last bucket and the array's last slot always stays empty, so a
// probe never wraps (probe.go).
//
// # Limits
//
// The table may be capped (Config.MaxKeys). At the cap, Get returns an
// error for new keys; existing keys keep their cells. [Objects], the
// table of per-key objects for state that does not fit a cell (the moving
// window's logs, the key-value face's entries), is built the same way:
// the same shards, cap and shrinking, with power-of-two arrays at a load
// of 3/8 to 3/4. A cell holds 63
// bits: CompareAndSwap drops bit 63 of the values it is given.
package shard
