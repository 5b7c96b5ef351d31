// memberlist-node runs one hashicorp/memberlist member in this process and
// speaks the same line protocol as bench/heck-node.ts, so the benchmark and
// the mixed-cluster tests drive heck members and memberlist members the
// same way.
//
// stdout: one JSON object per line, every one with "t" (unix ms):
//
//	{"event":"ready","addr":"127.0.0.1:port","name":...,"pid":...}
//	{"event":"join"|"leave"|"dead"|"update","member":name,"state":...,"addr":...,"meta":...}
//	{"event":"stats","packetsOut":n,"bytesOut":n,"members":n,"userMessages":n}
//	{"event":"members","members":[{"name","addr","state","meta"}...]}
//	{"event":"joining"} then {"event":"joined","contacted":n} / {"event":"bye"} / {"event":"ok","command":...}
//	{"event":"error","message":...}
//
// stdin, one command a line:
//
//	join <addr>...     push-pull with each (memberlist's Join)
//	stats | members    counters | the member list (memberlist's Members: alive and suspect)
//	meta <text>        publish new metadata (UpdateNode)
//	key-install|key-use|key-remove <base64>   rotate the keyring
//	block <addr>... | unblock [<addr>...]     drop packets to and from them, refuse dials
//	mute <addr>...     drop only packets (UDP) to and from them: probes fall back to TCP
//	user <addr> <text> send a user message on a stream (SendToAddress for packets: user-packet)
//	leave | quit
//
// Flags set memberlist's config (-preset lan|local, then per-field
// overrides in milliseconds), the bind address, metadata, keys and
// compression; -capture <file> records every packet and stream chunk
// memberlist writes and reads (hex, JSON lines) for the codec's golden
// fixtures.
//
// Packets are counted by wrapping memberlist's own NetTransport: every
// packet memberlist hands to the transport is one UDP datagram.
//
// Built offline against Debian's golang-github-hashicorp-memberlist-dev in
// GOPATH mode by bench/memberlist-build.ts.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(fields map[string]interface{}) {
	fields["t"] = time.Now().UnixNano() / int64(time.Millisecond)
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(fields)
}

// recorder writes what crosses the transport as JSON lines, for golden fixtures.
type recorder struct {
	sync.Mutex
	enc *json.Encoder
}

func (r *recorder) record(dir, kind, peer string, b []byte) {
	if r == nil {
		return
	}
	r.Lock()
	defer r.Unlock()
	_ = r.enc.Encode(map[string]interface{}{"dir": dir, "kind": kind, "peer": peer, "hex": hex.EncodeToString(b), "t": time.Now().UnixNano() / int64(time.Millisecond)})
}

// labTransport wraps memberlist's NetTransport to count packets, to record
// traffic, and to partition this member from chosen peers: packets to and
// from a blocked address are dropped and dials to it fail. (A dial from a
// blocked peer cannot be told apart, its source port being ephemeral, so
// a partition blocks on both sides.)
type labTransport struct {
	*memberlist.NetTransport
	packets  uint64
	bytes    uint64
	rec      *recorder
	mu       sync.Mutex
	blocked  map[string]bool
	muted    map[string]bool
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
}

func newLabTransport(nt *memberlist.NetTransport, rec *recorder) *labTransport {
	t := &labTransport{NetTransport: nt, rec: rec, blocked: map[string]bool{}, muted: map[string]bool{}, packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn)}
	go func() {
		for p := range nt.PacketCh() {
			if t.isBlocked(p.From.String()) || t.isMuted(p.From.String()) {
				continue
			}
			t.rec.record("in", "packet", p.From.String(), p.Buf)
			t.packetCh <- p
		}
	}()
	go func() {
		for c := range nt.StreamCh() {
			t.streamCh <- &recordedConn{Conn: c, rec: rec, peer: c.RemoteAddr().String()}
		}
	}()
	return t
}

func (t *labTransport) isBlocked(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blocked[addr]
}

func (t *labTransport) isMuted(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.muted[addr]
}

func (t *labTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *labTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	atomic.AddUint64(&t.packets, 1)
	atomic.AddUint64(&t.bytes, uint64(len(b)))
	if t.isBlocked(a.Addr) || t.isMuted(a.Addr) {
		return time.Now(), nil
	}
	t.rec.record("out", "packet", a.Addr, b)
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *labTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *labTransport) StreamCh() <-chan net.Conn           { return t.streamCh }

func (t *labTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *labTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.isBlocked(a.Addr) {
		return nil, fmt.Errorf("dial %s: blocked", a.Addr)
	}
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &recordedConn{Conn: c, rec: t.rec, peer: a.Addr}, nil
}

// recordedConn records every chunk written to and read from a stream.
type recordedConn struct {
	net.Conn
	rec  *recorder
	peer string
}

func (c *recordedConn) Write(b []byte) (int, error) {
	c.rec.record("out", "stream", c.peer, b)
	return c.Conn.Write(b)
}

func (c *recordedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.rec.record("in", "stream", c.peer, b[:n])
	}
	return n, err
}

// delegate publishes our metadata and counts user messages (we send none by gossip).
type delegate struct {
	mu       sync.Mutex
	meta     []byte
	received uint64
}

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}
func (d *delegate) NotifyMsg(b []byte) {
	atomic.AddUint64(&d.received, 1)
	emit(map[string]interface{}{"event": "user", "payload": string(b)})
}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

type events struct{}

func state(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	default:
		return "left"
	}
}

func nodeFields(n *memberlist.Node) map[string]interface{} {
	return map[string]interface{}{"member": n.Name, "state": state(n.State), "addr": n.Address(), "meta": string(n.Meta)}
}

func (events) NotifyJoin(n *memberlist.Node) {
	f := nodeFields(n)
	f["event"] = "join"
	f["state"] = "alive"
	emit(f)
}

// NotifyLeave reports a member gone. memberlist 0.2.2 keeps the state in
// its own nodeState and never updates Node.State, so a member that left
// reads as "dead" here too; its log tells them apart (a failure is logged as
// "Suspect <name> has failed" and "Marking <name> as failed", a leave is not).
func (events) NotifyLeave(n *memberlist.Node) {
	f := nodeFields(n)
	f["event"] = "dead"
	if n.State == memberlist.StateLeft {
		f["event"] = "leave"
	}
	emit(f)
}
func (events) NotifyUpdate(n *memberlist.Node) {
	f := nodeFields(n)
	f["event"] = "update"
	emit(f)
}

// keysFlag collects repeated -key flags.
type keysFlag []string

func (k *keysFlag) String() string     { return strings.Join(*k, ",") }
func (k *keysFlag) Set(v string) error { *k = append(*k, v); return nil }

func decodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key: not base64: %v", err)
	}
	return k, memberlist.ValidateKey(k)
}

func fail(err error) {
	emit(map[string]interface{}{"event": "error", "message": err.Error()})
	os.Exit(1)
}

func main() {
	name := flag.String("name", "", "member name")
	preset := flag.String("preset", "lan", "lan or local (memberlist's defaults)")
	bind := flag.String("bind", "127.0.0.1:0", "UDP+TCP address (port 0 picks one)")
	meta := flag.String("meta", "", "metadata to publish")
	compress := flag.Bool("compress", true, "LZW compression (memberlist's EnableCompression, on by default)")
	probeInterval := flag.Int("probe-interval", 0, "ProbeInterval, ms (0: the preset's)")
	probeTimeout := flag.Int("probe-timeout", 0, "ProbeTimeout, ms")
	gossipInterval := flag.Int("gossip-interval", 0, "GossipInterval, ms")
	suspicionMult := flag.Int("suspicion-mult", 0, "SuspicionMult")
	pushPull := flag.Int("push-pull-interval", -1, "PushPullInterval, ms (0 disables)")
	tcpTimeout := flag.Int("tcp-timeout", 0, "TCPTimeout, ms")
	gossipToTheDead := flag.Int("gossip-to-the-dead", 0, "GossipToTheDeadTime, ms (0: the preset's)")
	capture := flag.String("capture", "", "record traffic to this file (JSON lines)")
	verbose := flag.Bool("v", false, "memberlist's own logs on stderr")
	var keys keysFlag
	flag.Var(&keys, "key", "base64 key of 16, 24 or 32 bytes (repeat: the first encrypts)")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "memberlist-node: -name is required")
		os.Exit(2)
	}

	conf := memberlist.DefaultLANConfig()
	if *preset == "local" {
		conf = memberlist.DefaultLocalConfig()
	}
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	if *probeInterval > 0 {
		conf.ProbeInterval = ms(*probeInterval)
	}
	if *probeTimeout > 0 {
		conf.ProbeTimeout = ms(*probeTimeout)
	}
	if *gossipInterval > 0 {
		conf.GossipInterval = ms(*gossipInterval)
	}
	if *suspicionMult > 0 {
		conf.SuspicionMult = *suspicionMult
	}
	if *pushPull >= 0 {
		conf.PushPullInterval = ms(*pushPull)
	}
	if *tcpTimeout > 0 {
		conf.TCPTimeout = ms(*tcpTimeout)
	}
	if *gossipToTheDead > 0 {
		conf.GossipToTheDeadTime = ms(*gossipToTheDead)
	}
	conf.EnableCompression = *compress
	conf.Name = *name
	if !*verbose {
		conf.LogOutput = ioutil.Discard
	}
	if len(keys) > 0 {
		var raw [][]byte
		for _, k := range keys {
			b, err := decodeKey(k)
			if err != nil {
				fail(err)
			}
			raw = append(raw, b)
		}
		ring, err := memberlist.NewKeyring(raw[1:], raw[0])
		if err != nil {
			fail(err)
		}
		conf.Keyring = ring
	}
	d := &delegate{}
	if *meta != "" {
		d.meta = []byte(*meta)
	}
	conf.Delegate = d

	host, portText, err := net.SplitHostPort(*bind)
	if err != nil {
		fail(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		fail(err)
	}
	var rec *recorder
	if *capture != "" {
		f, err := os.Create(*capture)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		rec = &recorder{enc: json.NewEncoder(f)}
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: log.New(ioutil.Discard, "", 0)})
	if err != nil {
		fail(err)
	}
	port = nt.GetAutoBindPort()
	transport := newLabTransport(nt, rec)
	conf.Transport = transport
	conf.BindAddr = host
	conf.BindPort = port
	conf.AdvertiseAddr = host
	conf.AdvertisePort = port
	conf.Events = events{}

	list, err := memberlist.Create(conf)
	if err != nil {
		fail(err)
	}
	emit(map[string]interface{}{"event": "ready", "addr": net.JoinHostPort(host, strconv.Itoa(port)), "name": *name, "pid": os.Getpid()})

	ok := func(cmd string) { emit(map[string]interface{}{"event": "ok", "command": cmd}) }
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "join":
			// When this process got to the join: the benchmark separates a busy machine's scheduling delay from the protocol's.
			emit(map[string]interface{}{"event": "joining"})
			go func(seeds []string) {
				n, err := list.Join(seeds)
				if err != nil {
					emit(map[string]interface{}{"event": "error", "message": err.Error()})
					return
				}
				emit(map[string]interface{}{"event": "joined", "contacted": n})
			}(fields[1:])
		case "stats":
			emit(map[string]interface{}{"event": "stats", "packetsOut": atomic.LoadUint64(&transport.packets), "bytesOut": atomic.LoadUint64(&transport.bytes), "members": list.NumMembers(), "userMessages": atomic.LoadUint64(&d.received)})
		case "members":
			var rows []map[string]interface{}
			for _, n := range list.Members() {
				rows = append(rows, map[string]interface{}{"name": n.Name, "addr": n.Address(), "state": state(n.State), "meta": string(n.Meta)})
			}
			emit(map[string]interface{}{"event": "members", "members": rows})
		case "meta":
			d.mu.Lock()
			d.meta = []byte(strings.Join(fields[1:], " "))
			d.mu.Unlock()
			go func() {
				if err := list.UpdateNode(5 * time.Second); err != nil {
					emit(map[string]interface{}{"event": "error", "message": err.Error()})
					return
				}
				ok("meta")
			}()
		case "key-install", "key-use", "key-remove":
			if conf.Keyring == nil || len(fields) < 2 {
				emit(map[string]interface{}{"event": "error", "message": "no keyring, or no key given"})
				continue
			}
			k, err := decodeKey(fields[1])
			if err == nil {
				switch fields[0] {
				case "key-install":
					err = conf.Keyring.AddKey(k)
				case "key-use":
					err = conf.Keyring.UseKey(k)
				default:
					err = conf.Keyring.RemoveKey(k)
				}
			}
			if err != nil {
				emit(map[string]interface{}{"event": "error", "message": err.Error()})
				continue
			}
			ok(fields[0])
		case "block", "unblock", "mute":
			transport.mu.Lock()
			if fields[0] == "unblock" && len(fields) == 1 {
				transport.blocked = map[string]bool{}
				transport.muted = map[string]bool{}
			}
			for _, a := range fields[1:] {
				switch fields[0] {
				case "block":
					transport.blocked[a] = true
				case "mute":
					transport.muted[a] = true
				default:
					delete(transport.blocked, a)
					delete(transport.muted, a)
				}
			}
			transport.mu.Unlock()
			ok(fields[0])
		case "user", "user-packet":
			if len(fields) < 3 {
				emit(map[string]interface{}{"event": "error", "message": "user <addr> <text>"})
				continue
			}
			a := memberlist.Address{Addr: fields[1]}
			payload := []byte(strings.Join(fields[2:], " "))
			var err error
			if fields[0] == "user" {
				err = list.SendToTCP(&memberlist.Node{Addr: net.ParseIP(strings.Split(fields[1], ":")[0]), Port: uint16(atoiOr(fields[1]))}, payload)
			} else {
				err = list.SendToAddress(a, payload)
			}
			if err != nil {
				emit(map[string]interface{}{"event": "error", "message": err.Error()})
				continue
			}
			ok(fields[0])
		case "leave":
			_ = list.Leave(5 * time.Second)
			emit(map[string]interface{}{"event": "bye"})
		case "quit":
			_ = list.Shutdown()
			os.Exit(0)
		}
	}
	// stdin closed: the benchmark or test is gone.
	_ = list.Shutdown()
}

func atoiOr(hostPort string) int {
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
