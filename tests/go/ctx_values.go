package main

import (
	"context"
	"fmt"
)

func main() {
	a := context.WithValue(context.Background(), "user", "ann")
	b := context.WithValue(a, "trace", "t-1")
	c := context.WithValue(b, "user", "bob")
	fmt.Println(c)
	fmt.Println("nearest wins:", c.Value("user"), "| from above:", c.Value("trace"), "| missing:", c.Value("nope"))
	fmt.Println("parent unchanged:", b.Value("user"))
	d := context.WithValue(c, "user", nil)
	fmt.Println("a nil value shadows:", d.Value("user"))
	fmt.Println("nil key:", protect(func() { context.WithValue(context.Background(), nil, 1) }))
	fmt.Println("nil parent:", protect(func() {
		var p context.Context
		context.WithCancel(p)
	}))
}
