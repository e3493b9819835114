// Helpers compiled into every differential program (gorun.build(..., extra={"helpers.go": ...})),
// so each program file holds only its scenario. Unused helpers cost nothing in Go.
package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// oneP pins the program to one P (the goroutine cannot migrate between Ps) and switches off
// background GC, as Go's own pool test does; `defer oneP()()` restores the GC percentage.
func oneP() func() {
	runtime.GOMAXPROCS(1)
	old := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(old) }
}

// protect runs f and returns the message of the panic it raised (recover in a defer), or "no panic".
func protect(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return "no panic"
}

// waitParked blocks until n goroutines are in a state such as "chan receive", "chan send" or
// "select", read from runtime.Stack: a deterministic wait, not a sleep hoping they got there.
func waitParked(n int, state string) {
	waitStacks(n, func(g string) bool { return strings.Contains(g, "["+state) })
}

// waitStacks blocks until n goroutine stacks satisfy match.
func waitStacks(n int, match func(stack string) bool) {
	buf := make([]byte, 1<<20)
	for i := 0; i < 10000; i++ {
		count := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if match(g) {
				count++
			}
		}
		if count >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	panic("timed out waiting for parked goroutines")
}

// at is a fixed instant: base + ms milliseconds (the rate tables' clock; the twins use 1000 + ms/1000 s).
func at(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }
