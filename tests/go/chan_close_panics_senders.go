package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
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
	ch := make(chan int, 1)
	ch <- 0 // full: the next senders park
	var wg sync.WaitGroup
	msgs := make(chan string, 2)
	for i := 1; i <= 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { msgs <- fmt.Sprint("sender recovered: ", recover()) }()
			ch <- i
		}()
	}
	waitParked(2, "chan send")
	fmt.Println("2 senders parked on a full channel, len", len(ch))
	close(ch)
	wg.Wait()
	fmt.Println(<-msgs)
	fmt.Println(<-msgs)
	v, ok := <-ch
	fmt.Println("buffered value survives close:", v, ok)
}
