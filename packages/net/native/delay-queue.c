/*
 * heck-delay-queue: delay, jitter and reordering for a network lab host whose
 * kernel has no sch_netem.
 *
 * It runs inside one host's network namespace and reads the packets that
 * iptables sends to NFQUEUE (the host's OUTPUT chain queues only packets to
 * destinations with a delay rule). The kernel keeps each queued packet and
 * waits for a verdict; this program gives NF_ACCEPT when the packet's delay
 * is over. Verdicts may come in any order, so nothing is copied or
 * reinjected: holding the verdict is the delay, and a packet whose delay ends
 * first leaves first, which is how jitter reorders (as netem's jitter does).
 *
 * Per destination IPv4 address: delay, jitter (uniform in [-jitter, +jitter],
 * clamped at zero) and a reorder probability (that share of packets leaves at
 * once, ahead of the ones held: netem's "reorder" with a delay).
 *
 * Control: a Unix stream socket (--control PATH). A client writes a request
 * and closes its write side; the answer is one line. Control connections
 * are read in the same poll loop as packets, so a slow client never holds
 * packets back.
 *   set\n<a.b.c.d> <delay_us> <jitter_us> <reorder_ppm>\n...   -> "ok <rules>"
 *   stats\n                                                  -> "ok queued=.. released=.. held=.. overflow=.."
 *
 * Usage: heck-delay-queue --queue N --control PATH [--seed S]
 * Build: gcc -O2 -o heck-delay-queue delay-queue.c -lnetfilter_queue -lnfnetlink
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnetfilter_queue/linux_nfnetlink_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 256
#define MAX_HELD (1 << 16)

struct rule {
  uint32_t addr; /* network order */
  uint64_t delay_ns, jitter_ns;
  uint32_t reorder_ppm;
};

struct held {
  uint64_t release_ns;
  uint64_t seq; /* ties leave in arrival order */
  uint32_t id;
};

static struct rule rules[MAX_RULES];
static int rule_count;
static struct held heap[MAX_HELD];
static int heap_len;
static uint64_t seq_next;
static uint64_t stat_queued, stat_released, stat_overflow, stat_unmatched;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static struct nfq_q_handle *qh;
static volatile sig_atomic_t stopping;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* splitmix64: the seed makes the jitter draws of a run repeatable. */
static uint64_t next_random(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int earlier(const struct held *a, const struct held *b) {
  return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->seq < b->seq);
}

static void heap_push(struct held h) {
  int i = heap_len++;
  heap[i] = h;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!earlier(&heap[i], &heap[p])) break;
    struct held t = heap[i];
    heap[i] = heap[p];
    heap[p] = t;
    i = p;
  }
}

static struct held heap_pop(void) {
  struct held top = heap[0];
  heap[0] = heap[--heap_len];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_len && earlier(&heap[l], &heap[m])) m = l;
    if (r < heap_len && earlier(&heap[r], &heap[m])) m = r;
    if (m == i) break;
    struct held t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
  return top;
}

static const struct rule *rule_for(uint32_t addr) {
  for (int i = 0; i < rule_count; i++)
    if (rules[i].addr == addr) return &rules[i];
  return NULL;
}

static int on_packet(struct nfq_q_handle *q, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL) return 0;
  uint32_t id = ntohl(ph->packet_id);
  unsigned char *payload;
  int len = nfq_get_payload(nfa, &payload);
  const struct rule *r = NULL;
  if (len >= 20 && (payload[0] >> 4) == 4) {
    uint32_t daddr;
    memcpy(&daddr, payload + 16, 4);
    r = rule_for(daddr);
  }
  stat_queued++;
  if (r == NULL || heap_len >= MAX_HELD) {
    /* No rule (it was removed while the packet was in flight) or no room: let it go now. */
    if (r == NULL) stat_unmatched++;
    else stat_overflow++;
    stat_released++;
    return nfq_set_verdict(q, id, NF_ACCEPT, 0, NULL);
  }
  uint64_t delay = r->delay_ns;
  if (r->jitter_ns > 0) {
    uint64_t span = 2 * r->jitter_ns + 1;
    int64_t offset = (int64_t)(next_random() % span) - (int64_t)r->jitter_ns;
    delay = (int64_t)delay + offset < 0 ? 0 : (uint64_t)((int64_t)delay + offset);
  }
  if (r->reorder_ppm > 0 && next_random() % 1000000 < r->reorder_ppm) delay = 0;
  struct held h = {now_ns() + delay, seq_next++, id};
  heap_push(h);
  return 0;
}

static void release_due(void) {
  uint64_t now = now_ns();
  while (heap_len > 0 && heap[0].release_ns <= now) {
    struct held h = heap_pop();
    nfq_set_verdict(qh, h.id, NF_ACCEPT, 0, NULL);
    stat_released++;
  }
}

/* Parses a "set" request; returns the number of rules or -1 with a message in err. */
static int parse_rules(char *text, char *err, size_t errlen) {
  struct rule next[MAX_RULES];
  int n = 0;
  char *save = NULL;
  char *line = strtok_r(text, "\n", &save); /* "set" */
  for (line = strtok_r(NULL, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '\0') continue;
    char ip[64];
    unsigned long long delay_us, jitter_us;
    unsigned long reorder_ppm;
    if (sscanf(line, "%63s %llu %llu %lu", ip, &delay_us, &jitter_us, &reorder_ppm) != 4) {
      snprintf(err, errlen, "bad rule line: %.80s", line);
      return -1;
    }
    if (n >= MAX_RULES) {
      snprintf(err, errlen, "too many rules (at most %d)", MAX_RULES);
      return -1;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1) {
      snprintf(err, errlen, "bad address: %.64s", ip);
      return -1;
    }
    if (reorder_ppm > 1000000) {
      snprintf(err, errlen, "reorder_ppm above 1000000: %lu", reorder_ppm);
      return -1;
    }
    next[n].addr = a.s_addr;
    next[n].delay_ns = delay_us * 1000ULL;
    next[n].jitter_ns = jitter_us * 1000ULL;
    next[n].reorder_ppm = (uint32_t)reorder_ppm;
    n++;
  }
  memcpy(rules, next, sizeof(struct rule) * (size_t)n);
  rule_count = n;
  return n;
}

/* A control connection being read: requests are small and end at the client's EOF. */
#define MAX_CONNS 8
#define REQUEST_MAX (MAX_RULES * 96 + 64)
struct conn {
  int fd;
  size_t used;
  char buf[REQUEST_MAX];
};
static struct conn conns[MAX_CONNS];

static void answer(struct conn *c) {
  c->buf[c->used] = '\0';
  char reply[256];
  if (strncmp(c->buf, "set", 3) == 0) {
    char err[160] = "";
    int n = parse_rules(c->buf, err, sizeof err);
    if (n < 0) snprintf(reply, sizeof reply, "error %s\n", err);
    else snprintf(reply, sizeof reply, "ok %d\n", n);
  } else if (strncmp(c->buf, "stats", 5) == 0) {
    snprintf(reply, sizeof reply, "ok queued=%llu released=%llu held=%d overflow=%llu unmatched=%llu rules=%d\n", (unsigned long long)stat_queued,
             (unsigned long long)stat_released, heap_len, (unsigned long long)stat_overflow, (unsigned long long)stat_unmatched, rule_count);
  } else {
    snprintf(reply, sizeof reply, "error unknown request (expected set or stats)\n");
  }
  /* The reply fits a socket buffer: one write on a fresh connection does not block. */
  ssize_t ignored = write(c->fd, reply, strlen(reply));
  (void)ignored;
  close(c->fd);
  c->fd = -1;
}

/* Reads what a connection has; answers at EOF (or when the request is too big). Never blocks packet handling. */
static void read_control(struct conn *c) {
  for (;;) {
    if (c->used >= REQUEST_MAX - 1) {
      c->used = 0;
      strcpy(c->buf, "too big");
      answer(c);
      return;
    }
    ssize_t k = read(c->fd, c->buf + c->used, REQUEST_MAX - 1 - c->used);
    if (k > 0) {
      c->used += (size_t)k;
      continue;
    }
    if (k == 0) answer(c);
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      close(c->fd);
      c->fd = -1;
    }
    return;
  }
}

static void accept_control(int listener) {
  int fd = accept(listener, NULL, NULL);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CONNS; i++) {
    if (conns[i].fd < 0) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      conns[i].fd = fd;
      conns[i].used = 0;
      return;
    }
  }
  close(fd); /* too many at once: the client sees a closed socket and retries */
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  int queue = -1;
  const char *control = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--queue") == 0) queue = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--control") == 0) control = argv[i + 1];
    else if (strcmp(argv[i], "--seed") == 0) rng_state ^= strtoull(argv[i + 1], NULL, 10);
    else {
      fprintf(stderr, "heck-delay-queue: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (queue < 0 || queue > 65535 || control == NULL) {
    fprintf(stderr, "usage: heck-delay-queue --queue N --control PATH [--seed S]\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  struct nfq_handle *h = nfq_open();
  if (h == NULL) {
    fprintf(stderr, "heck-delay-queue: nfq_open failed: %s (is nfnetlink_queue in the kernel, and are we root?)\n", strerror(errno));
    return 1;
  }
  qh = nfq_create_queue(h, (uint16_t)queue, &on_packet, NULL);
  if (qh == NULL) {
    fprintf(stderr, "heck-delay-queue: cannot bind queue %d: %s\n", queue, strerror(errno));
    return 1;
  }
  /* The IPv4 header is all we read (the destination); GSO packets stay whole. */
  nfq_set_mode(qh, NFQNL_COPY_PACKET, 20);
  nfq_set_queue_maxlen(qh, MAX_HELD);
  nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO);
  int fd = nfq_fd(h);
  int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  if (strlen(control) >= sizeof sun.sun_path) {
    fprintf(stderr, "heck-delay-queue: control path too long\n");
    return 2;
  }
  strcpy(sun.sun_path, control);
  unlink(control);
  if (bind(listener, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(listener, 16) != 0) {
    fprintf(stderr, "heck-delay-queue: cannot listen on %s: %s\n", control, strerror(errno));
    return 1;
  }
  /* Ready: the parent waits for this line before installing the NFQUEUE rules. */
  printf("ready queue=%d control=%s\n", queue, control);
  fflush(stdout);

  for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
  static char buf[1 << 17];
  while (!stopping) {
    struct pollfd fds[2 + MAX_CONNS] = {{fd, POLLIN, 0}, {listener, POLLIN, 0}};
    for (int i = 0; i < MAX_CONNS; i++) {
      fds[2 + i].fd = conns[i].fd;
      fds[2 + i].events = POLLIN;
      fds[2 + i].revents = 0;
    }
    struct timespec timeout, *tp = NULL;
    if (heap_len > 0) {
      uint64_t now = now_ns();
      uint64_t wait = heap[0].release_ns > now ? heap[0].release_ns - now : 0;
      timeout.tv_sec = (time_t)(wait / 1000000000ULL);
      timeout.tv_nsec = (long)(wait % 1000000000ULL);
      tp = &timeout;
    }
    int ready = ppoll(fds, 2 + MAX_CONNS, tp, NULL);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0) break; /* EAGAIN: drained */
        nfq_handle_packet(h, buf, (int)k);
      }
    }
    for (int i = 0; ready > 0 && i < MAX_CONNS; i++)
      if (conns[i].fd >= 0 && (fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR))) read_control(&conns[i]);
    if (ready > 0 && (fds[1].revents & POLLIN)) accept_control(listener);
    release_due();
  }
  /* Let whatever is held go before leaving, rather than have the kernel drop it. */
  while (heap_len > 0) nfq_set_verdict(qh, heap_pop().id, NF_ACCEPT, 0, NULL);
  nfq_destroy_queue(qh);
  nfq_close(h);
  unlink(control);
  return 0;
}
