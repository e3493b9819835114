package main

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

func delay(r *rate.Reservation, t time.Time) string {
	d := r.DelayFrom(t)
	if d == rate.InfDuration {
		return "inf"
	}
	return fmt.Sprint(d.Nanoseconds(), "ns")
}

func main() {
	lim := rate.NewLimiter(2, 2) // 2 tokens/s, burst 2
	r1 := lim.ReserveN(at(0), 2)
	r2 := lim.ReserveN(at(0), 1)
	r3 := lim.ReserveN(at(0), 1)
	fmt.Println("r1", r1.OK(), delay(r1, at(0)), "| r2", r2.OK(), delay(r2, at(0)), "| r3", r3.OK(), delay(r3, at(0)))
	fmt.Printf("tokens in debt: %.4f\n", lim.TokensAt(at(0)))
	r3.CancelAt(at(100))
	fmt.Printf("cancel the last reservation at 100ms: tokens %.4f\n", lim.TokensAt(at(100)))
	r4 := lim.ReserveN(at(100), 3)
	fmt.Println("n > burst:", r4.OK(), delay(r4, at(100)))
	fmt.Println("r2 delay seen from 300ms:", delay(r2, at(300)), "| from 900ms:", delay(r2, at(900)))

	lim.SetLimitAt(at(2000), 10)
	fmt.Printf("SetLimitAt 2s -> 10/s: tokens %.4f at 2s, %.4f at 2.05s\n", lim.TokensAt(at(2000)), lim.TokensAt(at(2050)))
	lim.SetBurstAt(at(2050), 5)
	fmt.Printf("SetBurstAt 2.05s -> 5: tokens %.4f at 2.05s, %.4f at 3s\n", lim.TokensAt(at(2050)), lim.TokensAt(at(3000)))

	fmt.Println("Every(100ms) =", rate.Every(100*time.Millisecond), "| Every(0) is Inf:", rate.Every(0) == rate.Inf)
	inf := rate.NewLimiter(rate.Inf, 0)
	ri := inf.ReserveN(at(0), 1000)
	fmt.Println("Inf ignores the burst:", inf.AllowN(at(0), 1000), ri.OK(), delay(ri, at(0)))
}
