package main

import (
	"fmt"
	"sort"
	"sync"
)

func main() {
	ch := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var results []string
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, ok := <-ch
			mu.Lock()
			results = append(results, fmt.Sprint(v, " ", ok))
			mu.Unlock()
		}()
	}
	waitParked(3, "chan receive")
	fmt.Println("3 receivers parked")
	close(ch)
	wg.Wait()
	sort.Strings(results)
	fmt.Println("close woke them all:", results)
}
