package shard

// The cell tables (Table and WideTable) probe linearly from the start of
// a bucket: the low 32 bits of a key's hash pick one of nb buckets of
// bucketSlots consecutive slots (by multiply-shift, so nb need not be a
// power of two; the hash's top bits already picked the shard), and a
// lookup scans from that bucket's first slot until it meets the key or
// an empty slot. A Table bucket is 64 bytes, one cache line when the
// array is line-aligned (as the Go allocator places arrays of 32 KiB and
// more), so most lookups read one line even at the high load that the
// tables keep: a shard grows when live keys and tombstones would fill
// more than growNum/growDen of its buckets' slots, and a rebuild sizes it
// for a load of rebuildNum/rebuildDen. With 16-byte slots a live key then
// costs between 16·8/7 ≈ 18.3 and 16·3/2 = 24 bytes, at any number of
// keys (power-of-two arrays cost between 21 and 43).
//
// Probes never wrap: padding slots (padSlots, at first) follow the last
// bucket, and the last of them always stays empty, so every probe ends
// within the array without a wrap test (which keeps Table.Find within the
// inlining budget). An insert that would take the last slot rebuilds the
// array with twice the padding instead: rare with seeded hashes (a run
// of full slots from the last buckets to the array's end), and it always
// ends, because padding as long as the shard's keys fits them all.
const (
	bucketSlots            = 4
	padSlots               = 16
	minBuckets             = 2
	growNum, growDen       = 7, 8
	rebuildNum, rebuildDen = 2, 3
)

// home returns the first slot of the bucket of fingerprint fp in an
// array of nb buckets. Table.find spells it out, to stay inlinable.
func home(fp, nb uint64) uint64 { return uint64(uint32(fp)) * nb >> 32 * bucketSlots }

// tooFull reports whether a shard of nb buckets holding live keys and
// dead tombstones must grow (or purge) before one more insert.
func tooFull(live, dead, nb int) bool {
	return (live+dead+1)*growDen > nb*bucketSlots*growNum
}

// bucketsFor returns the bucket count of a rebuild for want live keys: at
// least minBuckets, at a load of at most rebuildNum/rebuildDen.
func bucketsFor(want int) int {
	n := (want*rebuildDen + rebuildNum - 1) / rebuildNum
	return max(minBuckets, (n+bucketSlots-1)/bucketSlots)
}

// shape is the size of a shard's slot array: nb buckets and pad slots
// after them.
type shape struct{ nb, pad int }

// slots returns the array's length.
func (sz shape) slots() int { return sz.nb*bucketSlots + sz.pad }

// grown returns the shape with twice the padding, for a rebuild after an
// insert that reached the array's last slot.
func (sz shape) grown() shape { return shape{sz.nb, 2 * sz.pad} }

// shapeFor returns the shape of a rebuild for want live keys.
func shapeFor(want int) shape { return shape{bucketsFor(want), padSlots} }
