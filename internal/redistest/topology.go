package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testproc"
)

// Sentinel is a master, one replica and three sentinels watching them under
// the master name "mymaster": enough for a real failover.
type Sentinel struct {
	Master, Replica *Server
	sentinels       []*testproc.Process
	addrs           []string
}

// MasterName is the name the sentinels monitor.
const MasterName = "mymaster"

// StartSentinel starts the topology and waits until every sentinel knows the
// master and its replica. Everything is killed on t.Cleanup.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{Master: Start(t)}
	s.Replica = start(t, []string{"--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port())})
	waitFor(t, 15*time.Second, "replica in sync", func() bool {
		return strings.Contains(info(s.Replica.Addr(), "replication"), "master_link_status:up")
	})
	bin := findBinary(t)
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		port, err := testproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n",
			port, dir, filepath.Join(dir, fmt.Sprintf("sentinel-%d.log", i)),
			MasterName, s.Master.Port(), MasterName, MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := startProcess(bin, []string{conf, "--sentinel"})
		if err != nil {
			t.Fatalf("redistest: sentinel: %v", err)
		}
		t.Cleanup(p.Kill)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitReady(p, addr); err != nil {
			t.Fatalf("redistest: sentinel: %v", err)
		}
		s.sentinels = append(s.sentinels, p)
		s.addrs = append(s.addrs, addr)
	}
	waitFor(t, 15*time.Second, "sentinels see the replica", func() bool {
		for _, a := range s.addrs {
			out, err := command(a, "SENTINEL", "replicas", MasterName)
			if err != nil || !strings.Contains(out, strconv.Itoa(s.Replica.Port())) {
				return false
			}
		}
		return true
	})
	return s
}

// URL is a redis-sentinel:// URL naming all sentinels.
func (s *Sentinel) URL() string {
	return "redis-sentinel://" + strings.Join(s.addrs, ",") + "/" + MasterName
}

// MasterAddr asks a sentinel which address is the master now.
func (s *Sentinel) MasterAddr() string {
	out, err := command(s.addrs[0], "SENTINEL", "get-master-addr-by-name", MasterName)
	if err != nil {
		return ""
	}
	f := strings.Fields(out)
	if len(f) < 2 {
		return ""
	}
	return net.JoinHostPort(f[0], f[1])
}

// Cluster is a three-master Redis Cluster (no replicas) with all 16384 slots assigned.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts three cluster-enabled servers, joins them with
// redis-cli --cluster create and waits for cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	var addrs []string
	for i := 0; i < 3; i++ {
		n := start(t, []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
			"--cluster-config-file", fmt.Sprintf("nodes-%d-%d.conf", i, time.Now().UnixNano())})
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr())
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redistest: redis-cli not found (Debian package redis-tools): %v", err)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: cluster create: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "cluster_state:ok", func() bool {
		for _, a := range addrs {
			out, err := command(a, "CLUSTER", "INFO")
			if err != nil || !strings.Contains(out, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	return c
}

// URL is a redis-cluster:// URL naming every node.
func (c *Cluster) URL() string {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr())
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

func waitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redistest: timed out waiting for %s", what)
}

func info(addr, section string) string {
	out, _ := command(addr, "INFO", section)
	return out
}

// command sends one command in RESP and returns the reply flattened to text
// (bulk strings and array elements joined by newlines). It is enough for the
// admin commands the helpers need, without a client library.
func command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	var out strings.Builder
	if err := readReply(r, &out); err != nil {
		return "", err
	}
	return out.String(), nil
}

func readReply(r *bufio.Reader, out *strings.Builder) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		out.WriteString(line[1:] + "\n")
	case '-':
		return fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		out.Write(buf[:n])
		out.WriteString("\n")
	case '*':
		n, _ := strconv.Atoi(line[1:])
		for i := 0; i < n; i++ {
			if err := readReply(r, out); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}
