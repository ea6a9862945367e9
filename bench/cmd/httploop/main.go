// Command httploop serves n allowed requests through one column of
// bench/httpbench (a middleware, or a router with one), for
// bench/httpcallgrind.sh, which runs it under valgrind --tool=callgrind
// with two values of n and divides the difference in instructions by the
// difference in n, so that start-up cost cancels.
//
// Usage: httploop COLUMN n
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/floodgate-go/floodgate/bench/httpbench"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "httploop:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: httploop COLUMN n")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		return fmt.Errorf("n %q: want a count", args[1])
	}
	for _, c := range httpbench.Columns() {
		if c.Name != args[0] {
			continue
		}
		h, closeStore, err := c.New()
		if err != nil {
			return err
		}
		defer closeStore()
		rs := httpbench.Requests()
		w := &httpbench.Discard{H: http.Header{}}
		for i := range n {
			if err := httpbench.Serve(h, w, rs[i%httpbench.Clients]); err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf("no column %q", args[0])
}
