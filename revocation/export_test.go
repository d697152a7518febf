package revocation_test

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// killPubSub drops every pub/sub connection of the Redis at addr, as a
// network blip would.
func killPubSub(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	return c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err()
}
