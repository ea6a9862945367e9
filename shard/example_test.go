package shard_test

import (
	"fmt"

	"github.com/floodgate-go/floodgate/shard"
)

func Example() {
	t := shard.New(shard.Config{})
	h := shard.Hash("203.0.113.7")
	c, v, err := t.Get(h) // first appearance: takes the shard lock
	if err != nil {
		panic(err)
	}
	c.CompareAndSwap(v, v+1)
	if v, ok := t.Find(h).Load(); ok { // lock-free
		fmt.Println(v)
	}
	fmt.Println(t.Sweep(func(v uint64) bool { return v == 1 }), t.Len())
	// Output:
	// 1
	// 1 0
}
