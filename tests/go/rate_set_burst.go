package main

import (
	"fmt"

	"golang.org/x/time/rate"
)

// SetBurstAt / SetLimitAt advance the bucket at the old settings first, then change them; a lower
// burst caps the tokens the next time they are read.
func main() {
	lim := rate.NewLimiter(1, 5)
	fmt.Printf("full: %.4f\n", lim.TokensAt(at(0)))
	lim.SetBurstAt(at(0), 2)
	fmt.Printf("burst 5 -> 2: tokens %.4f, burst %d\n", lim.TokensAt(at(0)), lim.Burst())
	fmt.Println("AllowN 2:", lim.AllowN(at(0), 2), "| AllowN 1:", lim.AllowN(at(0), 1))
	lim.SetLimitAt(at(500), 4)
	fmt.Printf("limit 1 -> 4 at 500ms: tokens %.4f at 500ms, %.4f at 750ms\n", lim.TokensAt(at(500)), lim.TokensAt(at(750)))
	lim.SetBurstAt(at(750), 0)
	fmt.Println("burst 0 allows nothing:", lim.AllowN(at(5000), 1), "| n=0 still:", lim.AllowN(at(5000), 0))
	lim.SetLimitAt(at(5000), rate.Inf)
	fmt.Println("limit Inf ignores burst 0:", lim.AllowN(at(5000), 100))
}
