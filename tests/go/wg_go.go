package main

import (
	"fmt"
	"sync"
)

// sync.WaitGroup.Go (Go 1.25): Add(1), then go func() { defer Done(); f() }().
func main() {
	var wg sync.WaitGroup
	results := make([]int, 5)
	for i := range results {
		wg.Go(func() { results[i] = i * i })
	}
	wg.Wait()
	fmt.Println("wg.Go results:", results)
}
