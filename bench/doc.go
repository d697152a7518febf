// Package bench is authgate's performance suite: run.sh drives a load test
// that compares authgate with a bare Go reverse proxy, nginx and oauth2-proxy
// side by side (the pieces are started by cmd/benchstack), and the Go
// benchmarks here give its two yardsticks: the CPU cost of one raw RS256
// verification (the cache-miss target is expressed in it) and the memory of
// the verified-token cache per entry.
//
//	bench/run.sh                                   # the whole comparison (minutes)
//	go test -run '^$' -bench . ./bench/            # the yardsticks
//	go test -run '^$' -bench . ./proxy/ ./tokens/ ./cookies/
package bench
