package main

import (
	"context"
	"fmt"
	"time"
)

// A negative (or zero) timeout is legal in Go: the deadline has already passed, so the context is
// done at birth with DeadlineExceeded.
func main() {
	for _, d := range []time.Duration{-time.Second, 0} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		select {
		case <-ctx.Done():
			fmt.Println(d, "-> done at birth:", ctx.Err(), "| cause:", context.Cause(ctx))
		default:
			fmt.Println(d, "-> live?")
		}
		cancel()
		fmt.Println("cancel afterwards keeps the first error:", ctx.Err())
	}
}
