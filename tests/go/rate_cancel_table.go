package main

import (
	"fmt"

	"golang.org/x/time/rate"
)

// CancelAt gives back only the tokens nobody reserved after it, and nothing once its time passed.
func main() {
	lim := rate.NewLimiter(1, 1) // 1 token/s, burst 1
	r1 := lim.ReserveN(at(0), 1)
	r2 := lim.ReserveN(at(0), 1) // acts at 1s
	r3 := lim.ReserveN(at(0), 1) // acts at 2s
	fmt.Printf("after 3 reservations: tokens %.4f\n", lim.TokensAt(at(0)))
	r2.CancelAt(at(500))
	fmt.Printf("cancel r2 (r3 reserved after it): tokens %.4f\n", lim.TokensAt(at(500)))
	r3.CancelAt(at(500))
	fmt.Printf("cancel r3 (the last one): tokens %.4f\n", lim.TokensAt(at(500)))
	r1.CancelAt(at(500))
	fmt.Printf("cancel r1 (its time passed): tokens %.4f\n", lim.TokensAt(at(500)))
	r4 := lim.ReserveN(at(500), 1)
	fmt.Println("next reservation waits", r4.DelayFrom(at(500)).Nanoseconds(), "ns")
	r4.CancelAt(at(500))
	r4.CancelAt(at(500))
	fmt.Printf("cancel twice restores once: tokens %.4f\n", lim.TokensAt(at(500)))
	fail := lim.ReserveN(at(500), 2)
	fail.CancelAt(at(500))
	fmt.Printf("cancel of a failed reservation is a no-op: ok=%v tokens %.4f\n", fail.OK(), lim.TokensAt(at(500)))
}
