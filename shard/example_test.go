package shard_test

import (
	"fmt"

	"github.com/floodgate-go/floodgate/shard"
)

func Example() {
	t := shard.New(shard.Config{})
	h := shard.Hash("203.0.113.7")
	c, err := t.FindOrInsert(h) // first appearance: takes the shard lock
	if err != nil {
		panic(err)
	}
	c.Add(1)
	if c := t.Find(h); c != nil && c.Load()&shard.Frozen == 0 { // lock-free
		fmt.Println(c.Load())
	}
	fmt.Println(t.Sweep(func(v uint64) bool { return v == 1 }), t.Len())
	// Output:
	// 1
	// 1 0
}
