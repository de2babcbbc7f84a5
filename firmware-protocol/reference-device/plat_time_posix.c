/* Platform: time and randomness, POSIX (clock_gettime, /dev/urandom). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"

uint32_t plat_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static uint64_t rng_state;

uint32_t plat_random32(void) {
  if (rng_state == 0) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (read(fd, &rng_state, sizeof rng_state) != (ssize_t)sizeof rng_state) rng_state = 0;
      close(fd);
    }
    if (rng_state == 0) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      rng_state = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    rng_state |= 1u;
  }
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}
