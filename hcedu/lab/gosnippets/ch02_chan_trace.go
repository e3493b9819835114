// Chapter 02: the source's buffered-channel example as a printed trace, line for line the same as
// hcedu.lab.gocompare.chan_trace_mirror() prints with hcedu.go.Chan.
//
// A third send on a full Chan(2) parks its goroutine (seen in runtime.Stack, not guessed with a
// sleep); the first receive takes buf[recvx] and moves the parked sender's value into the freed slot,
// so len stays 2 and the sender is released.
package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// waitParked blocks until n goroutines are parked in state (e.g. "chan send"), read from runtime.Stack.
func waitParked(n int, state string) {
	buf := make([]byte, 1<<20)
	for i := 0; i < 10000; i++ {
		if strings.Count(string(buf[:runtime.Stack(buf, true)]), "["+state) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	panic("timed out waiting for parked goroutines")
}

func main() {
	ch := make(chan int, 2)
	ch <- 1
	fmt.Println("ch <- 1       len", len(ch), "cap", cap(ch))
	ch <- 2
	fmt.Println("ch <- 2       len", len(ch), "cap", cap(ch))
	done := make(chan bool)
	go func() { ch <- 3; done <- true }()
	waitParked(1, "chan send")
	fmt.Println("go: ch <- 3   blocks: the sender is parked on sendq, len", len(ch))
	fmt.Println("<-ch =", <-ch, "     len", len(ch), "(3 moved from the parked sender into the freed slot)")
	fmt.Println("sender released:", <-done)
	fmt.Println("<-ch =", <-ch, "     len", len(ch))
	fmt.Println("<-ch =", <-ch, "     len", len(ch))
	close(ch)
	v, ok := <-ch
	fmt.Println("close; <-ch =", v, ok)
}
