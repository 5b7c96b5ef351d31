// memberlist-node runs one hashicorp/memberlist member in this process and
// speaks the same line protocol as bench/heck-node.ts, so the benchmark can
// drive a heck cluster and a memberlist cluster the same way.
//
// stdout: one JSON object per line, every one with "t" (unix ms):
//   {"event":"ready","addr":"127.0.0.1:port"}
//   {"event":"join"|"leave"|"update","member":name,"state":"alive"|"dead"|"left"}
//   {"event":"stats","packetsOut":n,"bytesOut":n,"members":n}
//   {"event":"joined","contacted":n} / {"event":"error","message":...}
// stdin: "join <addr>", "stats", "leave", "quit".
//
// Packets are counted by wrapping memberlist's own NetTransport: every
// packet memberlist hands to the transport is one UDP datagram.
//
// Built offline against Debian's golang-github-hashicorp-memberlist-dev in
// GOPATH mode by bench/run.ts.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"os"
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

// countingTransport counts the packets and bytes memberlist sends.
type countingTransport struct {
	*memberlist.NetTransport
	packets uint64
	bytes   uint64
}

func (c *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	atomic.AddUint64(&c.packets, 1)
	atomic.AddUint64(&c.bytes, uint64(len(b)))
	return c.NetTransport.WriteTo(b, addr)
}

func (c *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	atomic.AddUint64(&c.packets, 1)
	atomic.AddUint64(&c.bytes, uint64(len(b)))
	return c.NetTransport.WriteToAddress(b, a)
}

type events struct{}

func state(n *memberlist.Node) string {
	switch n.State {
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

func (events) NotifyJoin(n *memberlist.Node) {
	emit(map[string]interface{}{"event": "join", "member": n.Name, "state": "alive"})
}
func (events) NotifyLeave(n *memberlist.Node) {
	s := state(n)
	ev := "dead"
	if s == "left" {
		ev = "leave"
	}
	emit(map[string]interface{}{"event": ev, "member": n.Name, "state": s})
}
func (events) NotifyUpdate(n *memberlist.Node) {
	emit(map[string]interface{}{"event": "update", "member": n.Name, "state": state(n)})
}

func main() {
	name := flag.String("name", "", "member name")
	preset := flag.String("preset", "lan", "lan or local (memberlist's defaults)")
	verbose := flag.Bool("v", false, "memberlist's own logs on stderr")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "memberlist-node: -name is required")
		os.Exit(2)
	}

	conf := memberlist.DefaultLANConfig()
	if *preset == "local" {
		conf = memberlist.DefaultLocalConfig()
	}
	conf.Name = *name
	if !*verbose {
		conf.LogOutput = ioutil.Discard
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: log.New(ioutil.Discard, "", 0)})
	if err != nil {
		emit(map[string]interface{}{"event": "error", "message": err.Error()})
		os.Exit(1)
	}
	port := nt.GetAutoBindPort()
	transport := &countingTransport{NetTransport: nt}
	conf.Transport = transport
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = port
	conf.AdvertiseAddr = "127.0.0.1"
	conf.AdvertisePort = port
	conf.Events = events{}

	list, err := memberlist.Create(conf)
	if err != nil {
		emit(map[string]interface{}{"event": "error", "message": err.Error()})
		os.Exit(1)
	}
	emit(map[string]interface{}{"event": "ready", "addr": fmt.Sprintf("127.0.0.1:%d", port)})

	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "join":
			go func(seeds []string) {
				n, err := list.Join(seeds)
				if err != nil {
					emit(map[string]interface{}{"event": "error", "message": err.Error()})
					return
				}
				emit(map[string]interface{}{"event": "joined", "contacted": n})
			}(fields[1:])
		case "stats":
			emit(map[string]interface{}{"event": "stats", "packetsOut": atomic.LoadUint64(&transport.packets), "bytesOut": atomic.LoadUint64(&transport.bytes), "members": list.NumMembers()})
		case "leave":
			_ = list.Leave(5 * time.Second)
			emit(map[string]interface{}{"event": "bye"})
		case "quit":
			_ = list.Shutdown()
			os.Exit(0)
		}
	}
	// stdin closed: the benchmark is gone.
	_ = list.Shutdown()
}
