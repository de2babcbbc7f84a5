/*
 * The reference device as a POSIX process:
 *
 *   reference-device --listen tcp://127.0.0.1:7071 [options]    TCP-shim framing, one host at a time
 *   reference-device --serial /dev/pts/N [options]              serial framing with ARQ (also --listen serial://PATH)
 *
 * Prints "listening on <url>" on stdout once ready (port 0 = ephemeral, the line shows the port chosen), runs
 * the poll() loop around dev_run(), exits cleanly (status 0) on SIGINT / SIGTERM. Queue memory is allocated
 * once here, before the loop; nothing is allocated afterwards.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "plat_posix.h"
#include "platform.h"

#define MAX_POLL (REFDEV_MAX_SLOTS + REFDEV_CONN_POOL + 8)

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  int saved = errno;
  stop_signal = sig;
  if (sig_pipe[1] >= 0) {
    ssize_t r = write(sig_pipe[1], "x", 1);
    (void)r;
  }
  errno = saved;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: reference-device (--listen tcp://HOST:PORT | --listen serial://PATH | --serial PATH) [options]\n"
          "  --slots N          socket slots (1..%u, default 64)\n"
          "  --send-queue N     bytes per socket send queue (default %u)\n"
          "  --recv-queue N     bytes per socket receive queue (default %u)\n"
          "  --max-payload N    link maximum payload offered in SYNC (256..%u; default 16384 TCP, 4096 serial)\n"
          "  --baud N           serial line rate, sizes the retransmission timer (default 921600)\n"
          "  --caps MASK        offer only these capability bits (hex or decimal)\n"
          "  --channel-timeout MS  link down this long: abort the channel's sockets (default 10000)\n"
          "  --stack-buffers N  SO_SNDBUF / SO_RCVBUF of TCP sockets (default 32768; 0 = OS default)\n"
          "  --loopback-only    refuse CONNECT / SENDTO destinations off this host (ENETUNREACH)\n"
          "  --stats            print link statistics on stderr at exit\n",
          (unsigned)REFDEV_MAX_SLOTS, (unsigned)REFDEV_DEFAULT_SEND_QUEUE, (unsigned)REFDEV_DEFAULT_RECV_QUEUE,
          (unsigned)REFDEV_MAX_PAYLOAD);
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out) {
  char *end;
  unsigned long v;
  errno = 0;
  v = strtoul(s, &end, 0);
  if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) return -1;
  *out = (uint32_t)v;
  return 0;
}

int main(int argc, char **argv) {
  const char *listen_url = NULL, *serial = NULL;
  uint32_t slots = 64, sq = REFDEV_DEFAULT_SEND_QUEUE, rq = REFDEV_DEFAULT_RECV_QUEUE, maxp = 0, baud = 921600, caps = 0;
  uint32_t channel_timeout = 0;
  int stats = 0;
  char url[600];
  dev_config_t cfg;
  uint8_t *pool;
  struct sigaction sa;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--stats") == 0) {
      stats = 1;
      continue;
    } else if (strcmp(a, "--loopback-only") == 0) {
      posix_net_loopback_only(1);
      continue;
    } else if (v == NULL) {
      bad = 1;
    } else if (strcmp(a, "--listen") == 0) {
      listen_url = v;
    } else if (strcmp(a, "--serial") == 0) {
      serial = v;
    } else if (strcmp(a, "--slots") == 0) {
      bad = parse_u32(v, 1, REFDEV_MAX_SLOTS, &slots);
    } else if (strcmp(a, "--send-queue") == 0) {
      bad = parse_u32(v, 1, 16u * 1024u * 1024u, &sq);
    } else if (strcmp(a, "--recv-queue") == 0) {
      bad = parse_u32(v, 1, 16u * 1024u * 1024u, &rq);
    } else if (strcmp(a, "--max-payload") == 0) {
      bad = parse_u32(v, OFFLOAD_MIN_MAX_PAYLOAD, REFDEV_MAX_PAYLOAD, &maxp);
    } else if (strcmp(a, "--baud") == 0) {
      bad = parse_u32(v, 1, 100000000u, &baud);
    } else if (strcmp(a, "--stack-buffers") == 0) {
      uint32_t b;
      bad = parse_u32(v, 0, 64u * 1024u * 1024u, &b);
      posix_net_stack_buffers((int)b);
    } else if (strcmp(a, "--channel-timeout") == 0) {
      bad = parse_u32(v, 1, 3600000u, &channel_timeout);
    } else if (strcmp(a, "--caps") == 0) {
      bad = parse_u32(v, 1, 0xFFFFFFFFu, &caps);
    } else {
      bad = 1;
    }
    if (bad) {
      fprintf(stderr, "reference-device: bad argument %s%s%s\n", a, v ? " " : "", v ? v : "");
      usage(stderr);
      return 2;
    }
    i++;
  }
  if (listen_url != NULL && strncmp(listen_url, "serial://", 9) == 0) {
    serial = listen_url + 9;
    listen_url = NULL;
  }
  if ((listen_url == NULL) == (serial == NULL)) {
    usage(stderr);
    return 2;
  }

  if (pipe(sig_pipe) != 0) return 1;
  fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  if (listen_url != NULL) {
    char host[256];
    const char *hp, *colon;
    uint32_t port;
    size_t hl;
    if (strncmp(listen_url, "tcp://", 6) != 0) {
      fprintf(stderr, "reference-device: --listen takes tcp://HOST:PORT or serial://PATH\n");
      return 2;
    }
    hp = listen_url + 6;
    colon = strrchr(hp, ':');
    if (colon == NULL || parse_u32(colon + 1, 0, 65535, &port) != 0) {
      fprintf(stderr, "reference-device: bad URL %s\n", listen_url);
      return 2;
    }
    hl = (size_t)(colon - hp);
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
      hp++;
      hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host) {
      fprintf(stderr, "reference-device: bad URL %s\n", listen_url);
      return 2;
    }
    memcpy(host, hp, hl);
    host[hl] = '\0';
    if (posix_link_open_tcp(host, (uint16_t)port, url, sizeof url) != 0) {
      fprintf(stderr, "reference-device: cannot listen on %s: %s\n", listen_url, strerror(errno));
      return 1;
    }
  } else if (posix_link_open_serial(serial, baud, url, sizeof url) != 0) {
    fprintf(stderr, "reference-device: cannot open %s: %s\n", serial, strerror(errno));
    return 1;
  }

  memset(&cfg, 0, sizeof cfg);
  cfg.slots = (uint16_t)slots;
  cfg.send_queue = sq;
  cfg.recv_queue = rq;
  cfg.pool_size = dev_pool_size(cfg.slots, sq, rq);
  cfg.framing = plat_link_framing();
  cfg.max_payload = (uint16_t)maxp;
  cfg.baud = serial != NULL ? baud : 0;
  cfg.caps = caps;
  cfg.channel_timeout_ms = channel_timeout;
  pool = malloc(cfg.pool_size); /* the only allocation: socket queues, once, before the loop */
  if (pool == NULL) {
    fprintf(stderr, "reference-device: cannot allocate %zu bytes of queue memory\n", cfg.pool_size);
    return 1;
  }
  cfg.pool = pool;
  if (dev_init(&cfg, plat_now_ms()) != 0) {
    fprintf(stderr, "reference-device: bad configuration\n");
    return 2;
  }
  printf("listening on %s\n", url);
  fflush(stdout);

  while (!stop_signal) {
    static struct pollfd fds[MAX_POLL];
    uint32_t now = plat_now_ms(), timeout;
    int n = 0, nl, r;
    dev_run(now);
    if (stop_signal) break;
    timeout = dev_next_timeout(now, 1000);
    timeout = posix_link_timeout(now, timeout);
    fds[n].fd = sig_pipe[0];
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    n++;
    nl = posix_link_pollfds(fds + n, MAX_POLL - n, link_tx_pending(dev_link()));
    n += nl;
    n += posix_net_pollfds(fds + n, MAX_POLL - n);
    r = poll(fds, (nfds_t)n, (int)timeout);
    posix_net_clear_ready();
    if (r < 0) continue; /* EINTR: a signal */
    posix_net_set_ready(fds + 1 + nl, n - 1 - nl);
    posix_link_service(fds + 1, nl, plat_now_ms());
  }

  dev_shutdown();
  if (stats) {
    const link_stats_t *s = &dev_link()->stats;
    fprintf(stderr,
            "reference-device: frames rx %u tx %u, msgs rx %u tx %u, retransmits %u (probes %u), naks rx %u tx %u, ignored %u, "
            "dropped ctl %u msgs %u, fatal records %u, incarnations %u, link resets %u, downs %u, decode errors",
            (unsigned)s->frames_rx, (unsigned)s->frames_tx, (unsigned)s->msgs_rx, (unsigned)s->msgs_tx,
            (unsigned)s->retransmits, (unsigned)s->probes, (unsigned)s->naks_rx, (unsigned)s->naks_tx, (unsigned)s->ignored,
            (unsigned)s->dropped_ctl, (unsigned)s->dropped_msgs, (unsigned)s->fatal_records,
            (unsigned)s->incarnations, (unsigned)s->link_resets, (unsigned)s->link_downs);
    for (int i = 1; i <= 12; i++) fprintf(stderr, " %u", (unsigned)s->decode_errors[i]);
    fprintf(stderr, "\n");
  }
  posix_link_close();
  free(pool);
  return 0;
}
