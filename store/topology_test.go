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
// go-redis' universal client, and both must keep Take atomic. On Sentinel it
// runs with WaitReplicas, so the replicated write path passes it too.
func TestRedisSentinelSuite(t *testing.T) {
	s := redistest.StartSentinel(t)
	storetest.Run(t,
		func(t *testing.T) store.Store { return newRedis(t, s.URL(), store.RedisOptions{WaitReplicas: 1}) },
		func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	)
}

// TestWaitReplicas: a write acknowledged with WaitReplicas is on the replica;
// without a replica to confirm it, the write fails as unavailable rather than
// being acknowledged and lost in the next failover.
func TestWaitReplicas(t *testing.T) {
	ctx := t.Context()
	s := redistest.StartSentinel(t)
	st := newRedis(t, s.URL(), store.RedisOptions{WaitReplicas: 1})
	if err := st.Put(ctx, "acked", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Put with a live replica: %v", err)
	}
	if ok, err := st.PutNew(ctx, "acked-new", []byte("v"), time.Minute); err != nil || !ok {
		t.Fatalf("PutNew with a live replica: %v %v", ok, err)
	}
	replica := rawClient(t, s.Replica.Addr(), 0)
	for _, k := range []string{"acked", "acked-new"} {
		// Read straight after the acknowledgement, with no grace period.
		if v, err := replica.Get(ctx, store.DefaultKeyPrefix+k).Result(); err != nil || v != "v" {
			t.Errorf("replica lacks %s right after the write: %q %v", k, v, err)
		}
	}
	s.Replica.Stop()
	start := time.Now()
	if err := st.Put(ctx, "unconfirmed", []byte("v"), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put without a replica: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("unconfirmed write took %v to fail", d)
	}

	alone := redistest.Start(t)
	solo := newRedis(t, alone.URL(), store.RedisOptions{WaitReplicas: 1})
	if err := solo.Put(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("standalone server without replicas: %v, want ErrUnavailable", err)
	}
	if _, err := store.NewRedis(ctx, "redis-cluster://"+alone.Addr(), store.RedisOptions{WaitReplicas: 1}); err == nil {
		t.Fatal("WaitReplicas accepted for Cluster")
	}
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
