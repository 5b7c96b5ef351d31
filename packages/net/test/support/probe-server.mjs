// A probe for lab tests, started on a host: a UDP echo (port 9101), a TCP
// echo (9102), and an HTTP control API (9100) through which a test in the
// root namespace asks it to send UDP packets to, or open a TCP connection
// to, another host, and reports what came back. Plain JavaScript so it
// starts fast with `node probe-server.mjs <address>`.
import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import { performance } from "node:perf_hooks";

const host = process.argv[2];
const udp = dgram.createSocket("udp4");
udp.on("message", (msg, from) => udp.send(msg, from.port, from.address));
udp.bind(9101, host);
net.createServer((s) => s.pipe(s)).listen(9102, host);

function sendUdp({ to, port = 9101, count, intervalMs = 1, waitMs = 1000 }) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket("udp4");
    const sentAt = new Map();
    const replies = [];
    sock.on("message", (m) => {
      const i = Number(m.toString());
      replies.push({ seq: i, rttMs: performance.now() - (sentAt.get(i) ?? 0) });
    });
    sock.bind(0, host, () => {
      let i = 0;
      const tick = () => {
        if (i >= count) return setTimeout(() => (sock.close(), resolve({ sent: count, replies })), waitMs);
        sentAt.set(i, performance.now());
        sock.send(String(i), port, to);
        i += 1;
        setTimeout(tick, intervalMs);
      };
      tick();
    });
  });
}

function connectTcp({ to, port = 9102, timeoutMs = 1000 }) {
  return new Promise((resolve) => {
    const start = performance.now();
    const s = net.connect({ host: to, port, localAddress: host });
    const done = (result) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ result, ms: Math.round(performance.now() - start) });
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    s.on("connect", () => s.write("ping\n"));
    s.on("data", () => done("connected"));
    s.on("error", (e) => done(e.code === "ECONNREFUSED" ? "refused" : e.code ?? "error"));
  });
}

http
  .createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const args = body ? JSON.parse(body) : {};
    const out = req.url === "/udp" ? await sendUdp(args) : req.url === "/tcp" ? await connectTcp(args) : { pid: process.pid, host };
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(out));
  })
  .listen(9100, host, () => process.stdout.write(`ready ${process.pid}\n`));
