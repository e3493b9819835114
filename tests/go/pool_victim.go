package main

import (
	"fmt"
	"runtime"
	"sync"
)

// Go's TestPool, printed: one P (the goroutine cannot migrate) and no background GC.
func main() {
	defer oneP()()
	var p sync.Pool
	fmt.Println("empty pool, no New:", p.Get())
	p.Put("a")
	p.Put("b")
	fmt.Println("private first:", p.Get())
	fmt.Println("then the shared head:", p.Get())
	fmt.Println("then nothing:", p.Get())

	p.Put("c")
	runtime.GC()
	fmt.Println("after one GC (victim):", p.Get())
	fmt.Println("a victim hit is not put back:", p.Get())

	p.Put("d")
	runtime.GC()
	runtime.GC()
	fmt.Println("after two GCs:", p.Get())

	for i := 0; i < 100; i++ {
		p.Put("e")
	}
	runtime.GC()
	hits := 0
	for p.Get() != nil {
		hits++
	}
	fmt.Println("100 puts, one GC, gets until nil:", hits)
}
