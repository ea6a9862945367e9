package throttled

// Sweep evicts the expired entries of s now, as its sweeper does every
// sweep interval, and returns how many it evicted.
func Sweep(s *Store) int { return s.kv.Sweep() }
