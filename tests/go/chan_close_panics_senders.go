package main

import (
	"fmt"
	"sync"
)

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
