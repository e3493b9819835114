package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

func main() {
	lim := rate.NewLimiter(1, 2)
	bg := context.Background()
	fmt.Println("n > burst:", lim.WaitN(bg, 3))
	canceled, cancel := context.WithCancel(bg)
	cancel()
	fmt.Println("canceled ctx:", lim.WaitN(canceled, 1))
	fmt.Println("tokens available:", lim.WaitN(bg, 2))
	short, cancelShort := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancelShort()
	fmt.Println("next token is ~1s away, deadline 50ms:", lim.WaitN(short, 1))
	fmt.Println("Inf limiter never waits, burst ignored:", rate.NewLimiter(rate.Inf, 0).WaitN(bg, 10))
	fast := rate.NewLimiter(200, 1)
	fast.AllowN(time.Now(), 1)
	fmt.Println("a short real wait (~5ms):", fast.WaitN(bg, 1))
}
