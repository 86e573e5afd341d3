// The reuseport steering program (see flow_steer.h). The kernel runs it with the UDP header pulled, so
// absolute offsets are offsets into the inner IP packet. A load past the end aborts the program with 0:
// such a datagram goes to the first socket, which is also where control datagrams go.
#include "flow_steer.h"

#include <linux/filter.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "error.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

#define PROG_MAX 80
#define GOLDEN 0x9E3779B1u  // a multiplier that mixes the bits the modulo below keeps

struct prog {
  struct sock_filter ins[PROG_MAX];
  unsigned n;
};

static unsigned emit(struct prog *p, uint16_t code, uint32_t k) {
  p->ins[p->n] = (struct sock_filter)BPF_STMT(code, k);
  return p->n++;
}

// M[0] ^= the 32-bit word at `off` (A and X are clobbered).
static void xor_word(struct prog *p, uint32_t off) {
  emit(p, BPF_LD | BPF_W | BPF_ABS, off);
  emit(p, BPF_LDX | BPF_MEM, 0);
  emit(p, BPF_ALU | BPF_XOR | BPF_X, 0);
  emit(p, BPF_ST, 0);
}

static void build(struct prog *p, unsigned n) {
  p->n = 0;
  emit(p, BPF_LD | BPF_B | BPF_ABS, 0);
  emit(p, BPF_ALU | BPF_RSH | BPF_K, 4);
  unsigned is4 = emit(p, BPF_JMP | BPF_JEQ | BPF_K, 4);
  unsigned is6 = emit(p, BPF_JMP | BPF_JEQ | BPF_K, 6);
  emit(p, BPF_RET | BPF_K, 0);  // control

  unsigned v4 = p->n;
  emit(p, BPF_ST, 0);  // A is 4 here: any seed will do
  xor_word(p, 12);     // source
  xor_word(p, 16);     // destination
  emit(p, BPF_LDX | BPF_B | BPF_MSH, 0);  // X = IHL * 4
  emit(p, BPF_LD | BPF_W | BPF_IND, 0);   // the ports
  emit(p, BPF_LDX | BPF_MEM, 0);
  emit(p, BPF_ALU | BPF_XOR | BPF_X, 0);
  unsigned to_mix = emit(p, BPF_JMP | BPF_JA, 0);

  unsigned v6 = p->n;
  emit(p, BPF_ST, 0);
  for (uint32_t off = 8; off < 40; off += 4) xor_word(p, off);  // source and destination
  xor_word(p, 40);  // the ports when no extension header comes first
  emit(p, BPF_LD | BPF_MEM, 0);

  unsigned mix = p->n;  // A ^= A >> 16, then a multiplicative hash, its high half modulo n
  emit(p, BPF_ST, 0);
  emit(p, BPF_ALU | BPF_RSH | BPF_K, 16);
  emit(p, BPF_LDX | BPF_MEM, 0);
  emit(p, BPF_ALU | BPF_XOR | BPF_X, 0);
  emit(p, BPF_ALU | BPF_MUL | BPF_K, GOLDEN);
  emit(p, BPF_ALU | BPF_RSH | BPF_K, 16);
  emit(p, BPF_ALU | BPF_MOD | BPF_K, n);
  emit(p, BPF_RET | BPF_A, 0);

  p->ins[is4].jt = (uint8_t)(v4 - is4 - 1);
  p->ins[is4].jf = 0;
  p->ins[is6].jt = (uint8_t)(v6 - is6 - 1);
  p->ins[is6].jf = 0;
  p->ins[to_mix].k = mix - to_mix - 1;
}

int flow_steer_attach(int fd, unsigned n, char *err) {
  struct prog p;
  build(&p, n);
  struct sock_fprog fprog = {.len = (unsigned short)p.n, .filter = p.ins};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog) < 0) {
    set_errno_error(err, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)", errno);
    return -1;
  }
  return 0;
}
