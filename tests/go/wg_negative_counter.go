package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	fmt.Println("Done on a zero counter:", protect(wg.Done))
	var wg2 sync.WaitGroup
	fmt.Println("Add(-1) on zero:", protect(func() { wg2.Add(-1) }))
	var wg3 sync.WaitGroup
	wg3.Add(2)
	wg3.Done()
	wg3.Done()
	fmt.Println("one Done too many:", protect(wg3.Done))
}
