package store

import "context"

// PubSub is what a store shared by several replicas adds so that one replica
// can tell the others at once (back-channel logout revokes a session on every
// replica within a second). Only [Redis] implements it; with [Memory] there is
// one instance and nothing to tell.
//
// Delivery is at most once: a replica that is disconnected when a message is
// published never receives it. Publishers therefore write the state to the
// store first (Put, with a TTL) and publish second, and subscribers reload it
// with Scan whenever their subscription is (re)established.
type PubSub interface {
	// Publish sends msg to every replica currently subscribed to channel.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe listens on channel until the returned stop is called; ctx
	// bounds only the first subscription (Subscribe returns once it is
	// confirmed, or fails). onReady runs on the subscriber's goroutine each time the
	// subscription is established, first and after every reconnection,
	// before any message that follows it; onMessage runs for each message,
	// in order. Neither may block for long: they hold up later messages.
	Subscribe(ctx context.Context, channel string, onReady func(), onMessage func([]byte)) (stop func(), err error)
	// Scan calls fn with every live key under prefix (without the store's
	// own namespace) and its value, in no particular order. A key that
	// expires or is deleted during the scan may or may not be seen.
	Scan(ctx context.Context, prefix string, fn func(key string, value []byte) error) error
}
