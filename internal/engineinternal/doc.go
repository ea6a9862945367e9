// Package engineinternal gives this module's adapters, benchmarks and
// black-box tests the engine calls that package engine keeps out of its
// API: the key-value face (package kv) built from engine options, the
// window counts of an httprate-style counter, and sweeps and refunds at
// an explicit time. Package engine sets every variable here in its init,
// so an importer of engine finds them set.
//
// Package engine imports this one, so the signatures cannot name engine's
// types: e is an *engine.Engine and opts an []engine.Option; anything
// else panics. Times are engine time, on the engine clock's base
// (Unix-epoch nanoseconds with the default clock). Nothing here is safe
// to call before engine's init has run, and everything is safe for
// concurrent use once it has.
package engineinternal
