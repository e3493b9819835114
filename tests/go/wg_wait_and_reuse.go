package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

func main() {
	var wg sync.WaitGroup
	wg.Wait()
	fmt.Println("Wait on a zero counter returns at once")
	var n atomic.Int64
	for round := 1; round <= 3; round++ {
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.Add(1)
			}()
		}
		wg.Wait()
		fmt.Println("round", round, "done:", n.Load())
	}
	waiters := make(chan bool, 3)
	wg.Add(1)
	for i := 0; i < 3; i++ {
		go func() { wg.Wait(); waiters <- true }()
	}
	wg.Done()
	fmt.Println("one Done released all waiters:", <-waiters && <-waiters && <-waiters)
}
