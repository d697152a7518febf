package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/store"
	"github.com/authgate/authgate/store/storetest"
)

// The shared suite runs unchanged on Sentinel and Cluster: both go through
// go-redis' universal client, and both must keep Take atomic.
func TestRedisSentinelSuite(t *testing.T) {
	s := redistest.StartSentinel(t)
	storetest.Run(t,
		func(t *testing.T) store.Store { return newRedis(t, s.URL(), store.RedisOptions{}) },
		func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	)
}

func TestRedisClusterSuite(t *testing.T) {
	c := redistest.StartCluster(t)
	storetest.Run(t,
		func(t *testing.T) store.Store { return newRedis(t, c.URL(), store.RedisOptions{}) },
		func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	)
}

// TestSentinelFailover kills the master: the sentinels promote the replica,
// the store follows it without being recreated, values written (and
// replicated) before the failover are still there, and during the failover
// operations fail with ErrUnavailable, never with a wrong answer.
func TestSentinelFailover(t *testing.T) {
	ctx := t.Context()
	s := redistest.StartSentinel(t)
	st := newRedis(t, s.URL(), store.RedisOptions{})
	for i := 0; i < 50; i++ {
		if err := st.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatalf("Put before failover: %v", err)
		}
	}
	// Let asynchronous replication catch up, as a real deployment would
	// between a write and a crash most of the time.
	time.Sleep(300 * time.Millisecond)
	oldMaster := s.MasterAddr()
	s.Master.Stop()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no failover within 30s")
		}
		err := st.Put(ctx, "probe", []byte("x"), time.Minute)
		if err == nil && s.MasterAddr() != oldMaster {
			break
		}
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("during failover: %v (want ErrUnavailable)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := s.MasterAddr(); got != s.Replica.Addr() {
		t.Fatalf("master after failover = %s, want the replica %s", got, s.Replica.Addr())
	}
	for i := 0; i < 50; i++ {
		v, err := st.Take(ctx, fmt.Sprintf("k%d", i))
		if err != nil || string(v) != "v" {
			t.Fatalf("k%d after failover: %q, %v", i, v, err)
		}
	}
	if _, err := st.Take(ctx, "k0"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take after failover is not single-use: %v", err)
	}
}
