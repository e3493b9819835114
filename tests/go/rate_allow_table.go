package main

import (
	"fmt"

	"golang.org/x/time/rate"
)

// x/time/rate's AllowN on a fixed time table: 10 tokens/s, burst 3, starts full.
func main() {
	lim := rate.NewLimiter(10, 3)
	steps := []struct{ ms, n int }{
		{0, 1}, {0, 1}, {0, 1}, {0, 1}, // the burst, then empty
		{50, 1},    // half a token
		{100, 1},   // one token refilled
		{100, 2},   // not enough
		{400, 3},   // refilled to the burst
		{400, 4},   // more than the burst: never
		{300, 1},   // time going backwards refills nothing
		{1000, 0},  // n = 0 is always allowed
		{10000, 1}, // long idle: capped at the burst
	}
	for _, s := range steps {
		ok := lim.AllowN(at(s.ms), s.n)
		fmt.Printf("t=%5dms n=%d allow=%-5v tokens=%.4f\n", s.ms, s.n, ok, lim.TokensAt(at(s.ms)))
	}
	fmt.Println("limit", lim.Limit(), "burst", lim.Burst())
}
