package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

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

// A receive from a full buffer with a parked sender takes the buffer's head and moves the
// sender's value into the freed slot: FIFO across the buffer and the send queue.
func main() {
	ch := make(chan string, 2)
	ch <- "a"
	ch <- "b"
	done := make(chan bool)
	go func() { ch <- "c"; done <- true }()
	waitParked(1, "chan send")
	fmt.Println(<-ch, "len", len(ch))
	<-done
	fmt.Println(<-ch, "len", len(ch))
	fmt.Println(<-ch, "len", len(ch))
}
