package main

import (
	"fmt"
	"runtime"
	"sync"
)

// After one GC everything sits in the victim: Get takes the victim's private slot first, then its
// shared chain from the tail (oldest first), and new Puts go to the fresh local generation.
func main() {
	defer oneP()()
	var p sync.Pool
	for _, s := range []string{"a", "b", "c"} {
		p.Put(s) // a -> private; b, c -> shared (head)
	}
	runtime.GC()
	p.Put("fresh")
	fmt.Println(p.Get(), p.Get(), p.Get(), p.Get(), p.Get())
}
