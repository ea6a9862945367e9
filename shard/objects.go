package shard

import "github.com/puzpuzpuz/xsync/v4"

// Objects maps key hashes to per-key objects, for state that does not fit
// in a 64-bit cell (the moving window's log). Lookups are lock-free
// (xsync.Map); creation and deletion lock one bucket of the map.
//
// The zero Objects is not usable; call NewObjects. It is safe for
// concurrent use and must not be copied.
type Objects[T any] struct {
	m *xsync.Map[uint64, *T]
	_ noCopy
}

// NewObjects returns an empty Objects.
func NewObjects[T any]() *Objects[T] {
	return &Objects[T]{m: xsync.NewMap[uint64, *T]()}
}

// Load returns the object of hash h, or nil.
func (o *Objects[T]) Load(h uint64) *T {
	v, _ := o.m.Load(h)
	return v
}

// LoadOrCreate returns the object of hash h, creating it with mk when h
// has none. mk runs at most once per creation, under a bucket lock.
func (o *Objects[T]) LoadOrCreate(h uint64, mk func() *T) *T {
	v, _ := o.m.LoadOrCompute(h, func() (*T, bool) { return mk(), false })
	return v
}

// Delete removes the object of hash h.
func (o *Objects[T]) Delete(h uint64) { o.m.Delete(h) }

// Sweep removes every object for which idle reports true and returns how
// many it removed. idle runs under a bucket lock of the map, so it must
// be quick and must not call o; it may lock the object itself.
func (o *Objects[T]) Sweep(idle func(*T) bool) int {
	return o.m.DeleteMatching(func(_ uint64, v *T) (bool, bool) { return idle(v), false })
}

// Len returns the number of objects.
func (o *Objects[T]) Len() int { return o.m.Size() }
