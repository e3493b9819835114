package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	defer oneP()()
	made := 0
	p := sync.Pool{New: func() any { made++; return fmt.Sprint("new#", made) }}
	fmt.Println(p.Get(), p.Get())
	p.Put(nil)
	fmt.Println("Put(nil) is a no-op:", p.Get())
	p.Put("kept")
	fmt.Println(p.Get(), "made", made)
	x := p.Get()
	p.Put(x)
	runtime.GC()
	fmt.Println("New's result is not stored, but a Put one survives one GC:", p.Get(), "made", made)
}
