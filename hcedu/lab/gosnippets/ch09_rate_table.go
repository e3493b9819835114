// Chapter 09: golang.org/x/time/rate decisions on a fixed time table, to set beside hcedu.go.rate.
//
// Arguments: limit (events/s), burst, then steps "ms:n" (AllowN at base+ms for n events). Prints
// JSON rows {ms, n, allow, tokens}; tokens is TokensAt(base+ms) after the call.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

func main() {
	limit, _ := strconv.ParseFloat(os.Args[1], 64)
	burst, _ := strconv.Atoi(os.Args[2])
	base := time.Unix(1000, 0)
	lim := rate.NewLimiter(rate.Limit(limit), burst)
	rows := []map[string]any{}
	for _, s := range os.Args[3:] {
		ms, n, _ := strings.Cut(s, ":")
		msv, _ := strconv.Atoi(ms)
		nv, _ := strconv.Atoi(n)
		t := base.Add(time.Duration(msv) * time.Millisecond)
		ok := lim.AllowN(t, nv)
		rows = append(rows, map[string]any{"ms": msv, "n": nv, "allow": ok, "tokens": lim.TokensAt(t)})
	}
	out, _ := json.Marshal(rows)
	fmt.Println(string(out))
}
