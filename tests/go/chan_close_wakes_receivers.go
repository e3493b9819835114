package main

import (
	"fmt"
	"runtime"
	"sort"
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
