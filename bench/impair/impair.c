/*
 * impair: a user-space stand-in for netem (this kernel has no sch_netem).
 *
 * Packets reach it through an iptables NFQUEUE rule, for example
 *
 *   iptables -A OUTPUT -o lo -p udp -j NFQUEUE --queue-num 7 --queue-bypass
 *
 * and it gives each one a verdict: dropped with probability `loss`, or held
 * for `delay` +/- `jitter` ms (uniform) and then accepted. On loopback each
 * packet crosses OUTPUT once, so both directions of a call get the same
 * treatment and RTT = 2 x delay. Packets of one flow (addresses, ports) are
 * never reordered: a packet is released no earlier than the one before it in
 * its flow, the way a real path with queueing jitter behaves.
 *
 * Control is line-based on stdin, so conditions change at run time:
 *
 *   set loss=0.1 delay=40 jitter=10   -> "ok ..."   (fields optional)
 *   stats                             -> "stats seen=N dropped=N held=N"
 *
 * It prints "ready" once bound to the queue, exits on EOF of stdin (the
 * parent went away) or SIGTERM, and accepts everything it still holds on the
 * way out. Built at test time: gcc -O2 -o impair impair.c -lnetfilter_queue
 * (Debian: libnetfilter-queue-dev).
 *
 * Usage: impair --queue N [--seed S] [--loss P] [--delay MS] [--jitter MS]
 */
#define _GNU_SOURCE
#include <errno.h>
/* glibc netinet/in.h first: it tells the kernel headers not to redefine. */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD 8192
#define FLOWS 256

struct held {
  uint32_t id;
  double release_ms;
};

static struct held heap[MAX_HELD];
static int heap_len = 0;
static double flow_last_ms[FLOWS];
static double loss = 0, delay_ms = 0, jitter_ms = 0;
static unsigned long seen = 0, dropped = 0, passed = 0;
static volatile sig_atomic_t stopping = 0;
static struct nfq_q_handle *queue;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void heap_push(uint32_t id, double release_ms) {
  int i = heap_len++;
  heap[i].id = id;
  heap[i].release_ms = release_ms;
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (heap[parent].release_ms <= heap[i].release_ms) break;
    struct held t = heap[parent];
    heap[parent] = heap[i];
    heap[i] = t;
    i = parent;
  }
}

static struct held heap_pop(void) {
  struct held top = heap[0];
  heap[0] = heap[--heap_len];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_len && heap[l].release_ms < heap[m].release_ms) m = l;
    if (r < heap_len && heap[r].release_ms < heap[m].release_ms) m = r;
    if (m == i) break;
    struct held t = heap[m];
    heap[m] = heap[i];
    heap[i] = t;
    i = m;
  }
  return top;
}

/* A flow key from the IPv4/IPv6 addresses and UDP ports, hashed. */
static unsigned flow_of(const unsigned char *p, int len) {
  unsigned h = 2166136261u;
  int start = 0, end = 0;
  if (len >= 20 && (p[0] >> 4) == 4) {
    int ihl = (p[0] & 15) * 4;
    start = 12;
    end = ihl + 4 <= len ? ihl + 4 : 20;
  } else if (len >= 44 && (p[0] >> 4) == 6) {
    start = 8;
    end = 44;
  }
  for (int i = start; i < end; i++) h = (h ^ p[i]) * 16777619u;
  return h % FLOWS;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
                     struct nfq_data *data, void *unused) {
  (void)msg;
  (void)unused;
  struct nfqnl_msg_packet_hdr *hdr = nfq_get_msg_packet_hdr(data);
  if (!hdr) return 0;
  uint32_t id = ntohl(hdr->packet_id);
  unsigned char *payload = NULL;
  int len = nfq_get_payload(data, &payload);
  seen++;
  if (loss > 0 && drand48() < loss) {
    dropped++;
    return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
  }
  if ((delay_ms <= 0 && jitter_ms <= 0) || heap_len >= MAX_HELD) {
    passed++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  }
  double hold = delay_ms + (drand48() * 2 - 1) * jitter_ms;
  if (hold < 0) hold = 0;
  double release = now_ms() + hold;
  unsigned flow = len > 0 ? flow_of(payload, len) : 0;
  if (release < flow_last_ms[flow]) release = flow_last_ms[flow];
  flow_last_ms[flow] = release;
  heap_push(id, release);
  return 0;
}

static void release_due(int all) {
  double t = now_ms();
  while (heap_len > 0 && (all || heap[0].release_ms <= t)) {
    struct held h = heap_pop();
    passed++;
    nfq_set_verdict(queue, h.id, NF_ACCEPT, 0, NULL);
  }
}

/* Applies one control line; answers on stdout. */
static void control(char *line) {
  if (strncmp(line, "stats", 5) == 0) {
    printf("stats seen=%lu dropped=%lu passed=%lu held=%d\n", seen, dropped,
           passed, heap_len);
    fflush(stdout);
    return;
  }
  if (strncmp(line, "set", 3) != 0) {
    printf("error unknown command (expected: set ... | stats)\n");
    fflush(stdout);
    return;
  }
  char *save = NULL;
  for (char *tok = strtok_r(line + 3, " \t\n", &save); tok;
       tok = strtok_r(NULL, " \t\n", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) continue;
    *eq = 0;
    double v = atof(eq + 1);
    if (strcmp(tok, "loss") == 0) loss = v < 0 ? 0 : v > 1 ? 1 : v;
    else if (strcmp(tok, "delay") == 0) delay_ms = v < 0 ? 0 : v;
    else if (strcmp(tok, "jitter") == 0) jitter_ms = v < 0 ? 0 : v;
  }
  printf("ok loss=%g delay=%g jitter=%g\n", loss, delay_ms, jitter_ms);
  fflush(stdout);
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  int queue_num = -1;
  long seed = (long)time(NULL);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--queue") == 0) queue_num = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--seed") == 0) seed = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--loss") == 0) loss = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--delay") == 0) delay_ms = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--jitter") == 0) jitter_ms = atof(argv[i + 1]);
  }
  if (queue_num < 0 || queue_num > 65535) {
    fprintf(stderr, "usage: impair --queue N [--seed S] [--loss P] "
                    "[--delay MS] [--jitter MS]\n");
    return 2;
  }
  srand48(seed);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  struct nfq_handle *h = nfq_open();
  if (!h) {
    perror("impair: nfq_open");
    return 1;
  }
  queue = nfq_create_queue(h, (uint16_t)queue_num, &on_packet, NULL);
  if (!queue) {
    fprintf(stderr, "impair: cannot bind queue %d (in use? root?)\n", queue_num);
    return 1;
  }
  /* Addresses and ports are enough for the flow key. */
  nfq_set_mode(queue, NFQNL_COPY_PACKET, 64);
  nfq_set_queue_maxlen(queue, MAX_HELD);
  int fd = nfq_fd(h);
  printf("ready queue=%d\n", queue_num);
  fflush(stdout);

  char buf[65536];
  char line[512];
  size_t line_len = 0;
  while (!stopping) {
    int timeout = -1;
    if (heap_len > 0) {
      double wait = heap[0].release_ms - now_ms();
      timeout = wait <= 0 ? 0 : (int)wait + 1;
      if (wait > 0 && wait < 1) timeout = 1;
    }
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
    int n = poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      int r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) nfq_handle_packet(h, buf, r);
    }
    if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
      char c;
      ssize_t r = read(0, &c, 1);
      if (r <= 0) break; /* the parent closed our stdin: stop */
      if (c == '\n' || line_len + 1 >= sizeof line) {
        line[line_len] = 0;
        control(line);
        line_len = 0;
      } else {
        line[line_len++] = c;
      }
    }
    release_due(0);
  }
  release_due(1);
  nfq_destroy_queue(queue);
  nfq_close(h);
  return 0;
}
