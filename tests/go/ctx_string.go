package main

import (
	"context"
	"fmt"
)

// Context's String(): the chain of constructors, values through stringify (a string as itself,
// nil as <nil>, any other non-Stringer as its type name).
func main() {
	bg := context.Background()
	fmt.Println(context.TODO())
	fmt.Println(context.WithValue(bg, "user", "ann"))
	fmt.Println(context.WithValue(bg, "n", 42))
	fmt.Println(context.WithValue(bg, "ok", true))
	fmt.Println(context.WithValue(bg, "none", nil))
	c, cancel := context.WithCancel(context.WithValue(bg, "k", "v"))
	defer cancel()
	fmt.Println(c)
	fmt.Println(context.WithoutCancel(c))
	cc, cancelCause := context.WithCancelCause(bg)
	defer cancelCause(nil)
	fmt.Println(cc)
}
