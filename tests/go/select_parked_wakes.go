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

func main() {
	a := make(chan string)
	b := make(chan string)
	out := make(chan string, 1)
	go func() {
		select {
		case v := <-a:
			out <- "a: " + v
		case v := <-b:
			out <- "b: " + v
		}
	}()
	waitParked(1, "select")
	b <- "woken by the send on b"
	fmt.Println(<-out)
	select {
	case a <- "nobody":
		fmt.Println("?")
	default:
		fmt.Println("the select left no waiter behind on a")
	}
	go func() {
		select {
		case v, ok := <-a:
			out <- fmt.Sprint("a closed: ", v, " ", ok)
		case <-b:
			out <- "b?"
		}
	}()
	waitParked(1, "select")
	close(a)
	fmt.Println(<-out)
}
