/* rg_model_init: runtime/src/format.ts readModel's checks, in its order, on the file in place; the arena plan. */
#include "rg_internal.h"

/* CRC-32, reflected 0xEDB88320, four bits at a time (a 64-byte table) */
static const uint32_t crc_nibble[16] = {
  0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
  0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t rg_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  size_t i;
  for (i = 0; i < n; i++) {
    c ^= p[i];
    c = (c >> 4) ^ crc_nibble[c & 15u];
    c = (c >> 4) ^ crc_nibble[c & 15u];
  }
  return c ^ 0xffffffffu;
}

/* Sections of a layer in the writer's order (runtime/src/format.ts SECTIONS) */
enum { K_I8, K_I32, K_Q31, K_SHIFT, K_F32, K_F32POS };
enum { O_LAYER, O_EST, O_GATE, O_INPUT };
#define N_SECTIONS 13u
typedef struct section_spec {
  const char *name;
  uint32_t entry_offset;
  uint8_t kind, owner;
} section_spec;
static const section_spec SECTIONS[N_SECTIONS] = {
  {"weights", RG_E_WEIGHTS, K_I8, O_LAYER},           {"bias", RG_E_BIAS, K_I32, O_LAYER},
  {"multiplier", RG_E_MULT, K_Q31, O_LAYER},          {"shift", RG_E_SHIFT, K_SHIFT, O_LAYER},
  {"est_a", RG_E_EST_A, K_I8, O_EST},                 {"est_t_multiplier", RG_E_T_MULT, K_Q31, O_EST},
  {"est_t_shift", RG_E_T_SHIFT, K_SHIFT, O_EST},      {"est_b", RG_E_EST_B, K_I8, O_EST},
  {"est_threshold", RG_E_THRESHOLD, K_I32, O_EST},    {"gate_weights", RG_E_GATE_W, K_I8, O_GATE},
  {"gate_threshold", RG_E_GATE_THR, K_I32, O_GATE},  {"in_scales", RG_E_IN_SCALES, K_F32POS, O_INPUT},
  {"in_offsets", RG_E_IN_OFFSETS, K_F32, O_INPUT},
};

static uint32_t sec_elements(uint32_t s, uint32_t n_in, uint32_t n_out, uint32_t rank, uint32_t blocks) {
  switch (s) {
    case 0: return n_out * n_in;
    case 1: case 2: case 3: return n_out;
    case 4: return rank * n_in;
    case 5: case 6: return rank;
    case 7: return n_out * rank;
    case 8: return n_out;
    case 9: return blocks * n_in;
    case 10: return blocks;
    default: return n_in;
  }
}

/* Failure report: "name", "layers[l].name", "layers[l].name[k]" */
static char *put_str(char *d, char *end, const char *s) {
  while (*s && d < end) *d++ = *s++;
  return d;
}
static char *put_u32(char *d, char *end, uint32_t v) {
  char buf[10];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v);
  while (n && d < end) *d++ = buf[--n];
  return d;
}

#define NO_INDEX 0xffffffffu
static rg_status fail(rg_model *m, int32_t layer, const char *name, uint32_t index, uint32_t offset, const char *expected, uint32_t actual) {
  char *d = m->field, *end = m->field + RG_FIELD_CHARS - 1;
  if (layer >= 0) {
    d = put_str(d, end, "layers[");
    d = put_u32(d, end, (uint32_t)layer);
    d = put_str(d, end, "].");
  }
  d = put_str(d, end, name);
  if (index != NO_INDEX) {
    d = put_str(d, end, "[");
    d = put_u32(d, end, index);
    d = put_str(d, end, "]");
  }
  *d = 0;
  m->offset = offset;
  m->expected = expected;
  m->actual = actual;
  m->valid_ = 0;
  return RG_BAD_FORMAT;
}

/* f32 bits: finite and > 0 (a positive subnormal passes; ±0 does not) */
static int positive_finite(uint32_t b) { return b != 0 && (b & 0x80000000u) == 0 && (b & 0x7f800000u) != 0x7f800000u; }
static int finite_bits(uint32_t b) { return (b & 0x7f800000u) != 0x7f800000u; }

/* One section as placed: its layer, spec index, offset and size */
typedef struct placed {
  uint32_t layer, spec, index, offset, bytes;
} placed;

/* Whether section spec s has an offset word in an entry: v1 entries end at 80; the input sections' words are v3's */
static int has_word(const rg_model *m, uint32_t s) {
  if (SECTIONS[s].entry_offset >= m->entry_bytes_) return 0;
  return SECTIONS[s].owner != O_INPUT || m->version >= 3u;
}

/* Whether layer l has the input sections: v3 layer 0 always; v4 layer 0 when either offset word is set */
static int has_input(const rg_model *m, uint32_t l) {
  const uint8_t *e = m->rgm + RG_HEADER_BYTES;
  if (l > 0 || m->version < 3u) return 0;
  return m->version == 3u || rg_u32(e + RG_E_IN_SCALES) != 0 || rg_u32(e + RG_E_IN_OFFSETS) != 0;
}

/* Walks the sections of a validated table in the reader's push order: layer by layer, spec order */
typedef struct iter {
  uint32_t l, s, i, n_in, n_out, rank, blocks;
} iter;

static void it_load(const rg_model *m, iter *it) {
  const uint8_t *e = m->rgm + RG_HEADER_BYTES + it->l * m->entry_bytes_;
  uint32_t bs;
  if (it->l >= m->layers) return;
  it->n_in = rg_u32(e + RG_E_N_IN);
  it->n_out = rg_u32(e + RG_E_N_OUT);
  it->rank = rg_u32(e + RG_E_RANK);
  bs = m->version == 1 ? 0 : rg_u32(e + RG_E_BLOCK_SIZE);
  it->blocks = bs ? (it->n_out + bs - 1) / bs : 0;
}

static void it_start(const rg_model *m, iter *it) {
  it->l = it->s = it->i = 0;
  it_load(m, it);
}

static int it_next(const rg_model *m, iter *it, placed *out) {
  while (it->l < m->layers) {
    const uint32_t s = it->s;
    if (s == N_SECTIONS) {
      it->l++;
      it->s = 0;
      it_load(m, it);
      continue;
    }
    it->s++;
    if (!has_word(m, s)) continue;
    if ((SECTIONS[s].owner == O_EST && it->rank == 0) || (SECTIONS[s].owner == O_GATE && it->blocks == 0) || (SECTIONS[s].owner == O_INPUT && !has_input(m, it->l))) continue;
    out->layer = it->l;
    out->spec = s;
    out->index = it->i++;
    out->offset = rg_u32(m->rgm + RG_HEADER_BYTES + it->l * m->entry_bytes_ + SECTIONS[s].entry_offset);
    out->bytes = sec_elements(s, it->n_in, it->n_out, it->rank, it->blocks) * (SECTIONS[s].kind == K_I8 ? 1u : 4u);
    return 1;
  }
  return 0;
}

/* (offset, push index) order: the reader's stable sort by offset */
static int before(const placed *a, const placed *b) {
  return a->offset < b->offset || (a->offset == b->offset && a->index < b->index);
}

/* Sections must not overlap: the first pair in offset order where one starts before the previous ends */
static rg_status check_overlap(rg_model *m) {
  iter it;
  placed p, s, c;
  int sorted = 1, found = 0, have_p = 0;
  /* Fast path: the writer's files are in offset order already */
  memset(&p, 0, sizeof p);
  memset(&s, 0, sizeof s);
  it_start(m, &it);
  while (sorted && it_next(m, &it, &s)) {
    if (have_p && s.offset < p.offset) sorted = 0;
    p = s;
    have_p = 1;
  }
  if (sorted) {
    have_p = 0;
    it_start(m, &it);
    while (!found && it_next(m, &it, &s)) {
      if (have_p && s.offset < p.offset + p.bytes) found = 1;
      p = s;
      have_p = 1;
    }
  } else {
    /* Walk in (offset, index) order by selection: O(sections²), only for hand-made files */
    have_p = 0;
    found = 0;
    for (;;) {
      placed b;
      int have_b = 0;
      memset(&b, 0, sizeof b);
      it_start(m, &it);
      while (it_next(m, &it, &c)) {
        if (have_p && !before(&p, &c)) continue;
        if (!have_b || before(&c, &b)) {
          b = c;
          have_b = 1;
        }
      }
      if (!have_b) break;
      if (have_p && b.offset < p.offset + p.bytes) {
        s = b;
        found = 1;
        break;
      }
      p = b;
      have_p = 1;
    }
  }
  if (!found) return RG_OK;
  {
    const uint32_t at = RG_HEADER_BYTES + s.layer * m->entry_bytes_ + SECTIONS[s.spec].entry_offset;
    char name[24];
    char *d = put_str(name, name + sizeof name - 1, SECTIONS[s.spec].name);
    d = put_str(d, name + sizeof name - 1, "_offset");
    *d = 0;
    return fail(m, (int32_t)s.layer, name, NO_INDEX, at, "an offset at or after the end of the section before it", s.offset);
  }
}

static rg_status check_section_offset(rg_model *m, uint32_t l, uint32_t s, uint32_t at, uint32_t offset, const char *expected) {
  char name[24];
  char *d = put_str(name, name + sizeof name - 1, SECTIONS[s].name);
  d = put_str(d, name + sizeof name - 1, "_offset");
  *d = 0;
  return fail(m, (int32_t)l, name, NO_INDEX, at, expected, offset);
}

static rg_status model_init(rg_model *m, const uint8_t *rgm, size_t bytes, int check_crc) {
  const uint8_t *b = rgm;
  uint32_t n, entry, payload, l, s, o, count = 0;
  uint32_t version;
  uint64_t total = 0;
  uint32_t prev_out = 0, prev_scale = 0;
  int32_t prev_zp = 0;
  if (m == NULL) return RG_BAD_ARG;
  memset(m, 0, sizeof *m);
  m->expected = "";
  if (rgm == NULL) {
    fail(m, -1, "rgm", NO_INDEX, 0, "a pointer to the model bytes", 0);
    return RG_BAD_ARG;
  }
  {
    /* Native int32 views need 4-byte alignment and a little-endian host */
    const uint32_t one = 1u;
    uint8_t first;
    memcpy(&first, &one, 1);
    if (((uintptr_t)rgm & 3u) != 0 || first != 1) {
      fail(m, -1, "rgm", NO_INDEX, 0, "a 4-byte aligned model on a little-endian host", (uint32_t)((uintptr_t)rgm & 3u));
      return RG_BAD_ARG;
    }
  }

  /* Header */
  if (bytes < RG_HEADER_BYTES) return fail(m, -1, "file_bytes", NO_INDEX, 0, "at least 64 bytes", (uint32_t)bytes);
  if (memcmp(b, "RGMF", 4) != 0) return fail(m, -1, "magic", NO_INDEX, 0, "\"RGMF\"", rg_u32(b));
  version = rg_u16(b + 4);
  if (version < 1 || version > 4) return fail(m, -1, "version", NO_INDEX, 4, "1, 2, 3 or 4", version);
  entry = version == 1 ? RG_ENTRY_BYTES_V1 : version == 4 ? RG_ENTRY_BYTES_V4 : RG_ENTRY_BYTES_V2;
  if (rg_u16(b + 6) != RG_HEADER_BYTES) return fail(m, -1, "header_bytes", NO_INDEX, 6, "64", rg_u16(b + 6));
  if ((size_t)rg_u32(b + 8) != bytes) return fail(m, -1, "file_bytes", NO_INDEX, 8, "the file's length", rg_u32(b + 8));
  if (bytes % 16u != 0) return fail(m, -1, "file_bytes", NO_INDEX, 8, "a multiple of 16", (uint32_t)bytes);
  if (bytes > RG_MAX_FILE_BYTES) return fail(m, -1, "file_bytes", NO_INDEX, 8, "at most 536870912", (uint32_t)bytes);
  n = rg_u32(b + 16);
  if (n < 1 || n > RG_MAX_LAYERS) return fail(m, -1, "layer_count", NO_INDEX, 16, "[1, 256]", n);
  if (rg_u32(b + 20) != entry) return fail(m, -1, "entry_bytes", NO_INDEX, 20, version == 1 ? "80" : version == 4 ? "112" : "96", rg_u32(b + 20));
  if (rg_u32(b + 24) != RG_HEADER_BYTES) return fail(m, -1, "table_offset", NO_INDEX, 24, "64", rg_u32(b + 24));
  payload = (RG_HEADER_BYTES + n * entry + 15u) & ~15u;
  if (rg_u32(b + 28) != payload) return fail(m, -1, "payload_offset", NO_INDEX, 28, "align16(64 + entry_bytes * layer_count)", rg_u32(b + 28));
  if (payload > bytes) return fail(m, -1, "layer_count", NO_INDEX, 16, "a layer table that fits in the file", n);
  for (o = 40; o < RG_HEADER_BYTES; o += 4) {
    if (rg_u32(b + o) != 0) return fail(m, -1, "reserved", NO_INDEX, o, "0", rg_u32(b + o));
  }
  m->rgm = rgm;
  m->bytes = (uint32_t)bytes;
  m->version = version;
  m->layers = n;
  m->entry_bytes_ = entry;

  /* Layer table */
  for (l = 0; l < n; l++) {
    const uint32_t e = RG_HEADER_BYTES + l * entry;
    const uint8_t *p = b + e;
    const int32_t L = (int32_t)l;
    uint32_t n_in = rg_u32(p + RG_E_N_IN), n_out = rg_u32(p + RG_E_N_OUT), rank = rg_u32(p + RG_E_RANK);
    uint32_t act, in_scale, out_scale, t_max, margin, bs = 0, blocks, top_k;
    int32_t in_zp, out_zp;
    if (n_in < 1 || n_in > RG_MAX_DIM) return fail(m, L, "n_in", NO_INDEX, e + RG_E_N_IN, "[1, 65535]", n_in);
    if (n_out < 1 || n_out > RG_MAX_DIM) return fail(m, L, "n_out", NO_INDEX, e + RG_E_N_OUT, "[1, 65535]", n_out);
    if (rank > (n_in < n_out ? n_in : n_out)) return fail(m, L, "rank", NO_INDEX, e + RG_E_RANK, "[0, min(n_in, n_out)]", rank);
    act = rg_u32(p + RG_E_ACTIVATION);
    if (act > 1) return fail(m, L, "activation", NO_INDEX, e + RG_E_ACTIVATION, "0 (none) or 1 (relu)", act);
    if (rank > 0 && act != 1) return fail(m, L, "activation", NO_INDEX, e + RG_E_ACTIVATION, "1 (relu) for a layer with an estimator", act);
    in_zp = rg_s32(rg_u32(p + RG_E_IN_ZP));
    out_zp = rg_s32(rg_u32(p + RG_E_OUT_ZP));
    if (in_zp < -128 || in_zp > 127) return fail(m, L, "in_zero_point", NO_INDEX, e + RG_E_IN_ZP, "[-128, 127]", (uint32_t)rg_u32(p + RG_E_IN_ZP));
    if (out_zp < -128 || out_zp > 127) return fail(m, L, "out_zero_point", NO_INDEX, e + RG_E_OUT_ZP, "[-128, 127]", rg_u32(p + RG_E_OUT_ZP));
    in_scale = rg_u32(p + RG_E_IN_SCALE);
    out_scale = rg_u32(p + RG_E_OUT_SCALE);
    if (!positive_finite(in_scale)) return fail(m, L, "in_scale", NO_INDEX, e + RG_E_IN_SCALE, "a finite float > 0", in_scale);
    if (!positive_finite(out_scale)) return fail(m, L, "out_scale", NO_INDEX, e + RG_E_OUT_SCALE, "a finite float > 0", out_scale);
    t_max = rg_u32(p + RG_E_T_MAX);
    margin = rg_u32(p + RG_E_MARGIN);
    if (rank == 0) {
      if (t_max != 0) return fail(m, L, "t_max", NO_INDEX, e + RG_E_T_MAX, "0", t_max);
      if ((margin & 0x7fffffffu) != 0) return fail(m, L, "margin", NO_INDEX, e + RG_E_MARGIN, "0 (0.0 or -0.0) for a layer without an estimator", margin);
    } else {
      uint32_t hi = 2147483647u / (128u * rank);
      if (hi > 32767u) hi = 32767u;
      if (t_max < 1 || t_max > hi) return fail(m, L, "t_max", NO_INDEX, e + RG_E_T_MAX, "[1, min(32767, (2^31 - 1) / (128 * rank))]", t_max);
      if (!finite_bits(margin)) return fail(m, L, "margin", NO_INDEX, e + RG_E_MARGIN, "a finite float", margin);
    }
    if (version == 1) {
      if (rg_u32(p + RG_E_BLOCK_SIZE) != 0) return fail(m, L, "reserved", NO_INDEX, e + RG_E_BLOCK_SIZE, "0", rg_u32(p + RG_E_BLOCK_SIZE));
    } else {
      bs = rg_u32(p + RG_E_BLOCK_SIZE);
      if (bs > n_out) return fail(m, L, "block_size", NO_INDEX, e + RG_E_BLOCK_SIZE, "[0, n_out]", bs);
      if (bs > 0 && rank > 0) return fail(m, L, "block_size", NO_INDEX, e + RG_E_BLOCK_SIZE, "0 for a layer with an estimator (rank > 0)", bs);
      if (bs > 0 && act != 1) return fail(m, L, "activation", NO_INDEX, e + RG_E_ACTIVATION, "1 (relu) for a layer with a block gate", act);
      /* v3: these words are the input sections' offsets (layer 0; 0 elsewhere) */
      for (o = RG_E_RESERVED; version == 2 && o < entry; o += 4) {
        if (rg_u32(p + o) != 0) return fail(m, L, "reserved", NO_INDEX, e + o, "0", rg_u32(p + o));
      }
      for (o = RG_E_RESERVED_V4; o < entry; o += 4) {
        if (rg_u32(p + o) != 0) return fail(m, L, "reserved", NO_INDEX, e + o, "0", rg_u32(p + o));
      }
    }
    blocks = bs > 0 ? (n_out + bs - 1) / bs : 0;
    top_k = version >= 4 ? rg_u32(p + RG_E_TOP_K) : 0;
    if (top_k != 0 && blocks == 0) return fail(m, L, "gate_top_k", NO_INDEX, e + RG_E_TOP_K, "0 for a layer without a block gate (block_size 0)", top_k);
    if (top_k > blocks) return fail(m, L, "gate_top_k", NO_INDEX, e + RG_E_TOP_K, "[0, blocks]", top_k);
    if (l > 0) {
      if (n_in != prev_out) return fail(m, L, "n_in", NO_INDEX, e + RG_E_N_IN, "the previous layer's n_out", n_in);
      if (in_zp != prev_zp) return fail(m, L, "in_zero_point", NO_INDEX, e + RG_E_IN_ZP, "the previous layer's out_zero_point", rg_u32(p + RG_E_IN_ZP));
      if (in_scale != prev_scale) return fail(m, L, "in_scale", NO_INDEX, e + RG_E_IN_SCALE, "the previous layer's out_scale", in_scale);
    }

    /* Sections: aligned, inside the payload */
    for (s = 0; s < N_SECTIONS; s++) {
      const uint32_t at = e + SECTIONS[s].entry_offset;
      uint32_t offset, sec_bytes;
      if (!has_word(m, s)) continue;
      offset = rg_u32(b + at);
      if ((SECTIONS[s].owner == O_EST && rank == 0) || (SECTIONS[s].owner == O_GATE && blocks == 0) || (SECTIONS[s].owner == O_INPUT && !has_input(m, l))) {
        if (offset != 0) return check_section_offset(m, l, s, at, offset, "0");
        continue;
      }
      sec_bytes = sec_elements(s, n_in, n_out, rank, blocks) * (SECTIONS[s].kind == K_I8 ? 1u : 4u);
      if (offset % 16u != 0) return check_section_offset(m, l, s, at, offset, "a multiple of 16");
      if (offset < payload || (uint64_t)offset + sec_bytes > bytes) return check_section_offset(m, l, s, at, offset, "a section inside the payload");
      count++;
      total += sec_bytes;
    }
    if (l == 0) {
      m->n_in = n_in;
      m->in_zero_point = in_zp;
      m->in_scale_bits = in_scale;
    }
    if (n_in > m->max_in_) m->max_in_ = n_in;
    if (l + 1 < n && n_out > m->max_hidden_) m->max_hidden_ = n_out;
    if ((rank > 0 || blocks > 0) && n_out > m->max_gated_out_) m->max_gated_out_ = n_out;
    if (rank > m->max_rank_) m->max_rank_ = rank;
    if (top_k > 0 && blocks > m->max_topk_blocks_) m->max_topk_blocks_ = blocks;
    m->n_out = n_out;
    m->out_zero_point = out_zp;
    m->out_scale_bits = out_scale;
    prev_out = n_out;
    prev_zp = out_zp;
    prev_scale = out_scale;
  }

  /* Sections must not overlap */
  {
    rg_status st = check_overlap(m);
    if (st != RG_OK) return st;
  }

  /* Totals */
  if (rg_u32(b + 32) != count) return fail(m, -1, "section_count", NO_INDEX, 32, "the number of sections present", rg_u32(b + 32));
  if ((uint64_t)rg_u32(b + 36) != total) return fail(m, -1, "section_bytes", NO_INDEX, 36, "the sum of the sections' sizes", rg_u32(b + 36));

  /* Element values the kernels rely on */
  {
    iter it;
    placed c;
    it_start(m, &it);
    while (it_next(m, &it, &c)) {
      uint32_t kind, k;
      kind = SECTIONS[c.spec].kind;
      if (kind == K_I8 || kind == K_I32) continue;
      if (kind == K_F32POS) m->in_scales_ = c.offset;
      if (kind == K_F32) m->in_offsets_ = c.offset;
      for (k = 0; k < c.bytes / 4u; k++) {
        const uint32_t at = c.offset + 4u * k;
        const int32_t v = rg_s32(rg_u32(b + at));
        if (kind == K_F32POS && !positive_finite(rg_u32(b + at))) return fail(m, (int32_t)c.layer, SECTIONS[c.spec].name, k, at, "a finite float > 0", rg_u32(b + at));
        if (kind == K_F32 && !finite_bits(rg_u32(b + at))) return fail(m, (int32_t)c.layer, SECTIONS[c.spec].name, k, at, "a finite float", rg_u32(b + at));
        if (kind == K_F32POS || kind == K_F32) continue;
        if (kind == K_Q31 && v != 0 && v < 0x40000000) return fail(m, (int32_t)c.layer, SECTIONS[c.spec].name, k, at, "0 or [1073741824, 2147483647]", (uint32_t)rg_u32(b + at));
        if (kind == K_SHIFT && (v < -31 || v > 30)) return fail(m, (int32_t)c.layer, SECTIONS[c.spec].name, k, at, "[-31, 30]", rg_u32(b + at));
      }
    }
  }

  /* Checksum (rg_model_init_trusted: skipped) */
  if (check_crc) {
    const uint32_t stored = rg_u32(b + 12), actual = rg_crc32(b + 16, bytes - 16);
    if (stored != actual) return fail(m, -1, "crc32", NO_INDEX, 12, "the CRC-32 of bytes 16..file_bytes", stored);
  }

  /* Arena: the int8 activations between layers, the widened input, the estimate t, the mask, the chunk list, top-k gate scores */
  {
    uint32_t a = rg_pad8(m->max_hidden_);
    a += 2u * rg_pad8(m->max_in_);
    a += 2u * rg_pad8(m->max_rank_);
    a += rg_pad8(4u * ((m->max_gated_out_ + 31u) / 32u));
    a += rg_pad8(2u * ((m->max_in_ + 7u) / 8u));
    a += rg_pad8(4u * m->max_topk_blocks_);
    m->arena_bytes_ = a;
  }
  m->field[0] = 0;
  m->expected = "";
  m->valid_ = RG_VALID;
  return RG_OK;
}

rg_status rg_model_init(rg_model *m, const uint8_t *rgm, size_t bytes) { return model_init(m, rgm, bytes, 1); }

rg_status rg_model_init_trusted(rg_model *m, const uint8_t *rgm, size_t bytes) { return model_init(m, rgm, bytes, 0); }

size_t rg_arena_bytes(const rg_model *m) {
  return m != NULL && m->valid_ == RG_VALID ? m->arena_bytes_ : 0;
}

void rg_layer_decode(const rg_model *m, uint32_t l, rg_layer *p) {
  const uint8_t *b = m->rgm, *e = b + RG_HEADER_BYTES + l * m->entry_bytes_;
  const uint32_t act = rg_u32(e + RG_E_ACTIVATION);
  p->n_in = rg_u32(e + RG_E_N_IN);
  p->n_out = rg_u32(e + RG_E_N_OUT);
  p->rank = rg_u32(e + RG_E_RANK);
  p->t_max = rg_u32(e + RG_E_T_MAX);
  p->block_size = m->version == 1 ? 0 : rg_u32(e + RG_E_BLOCK_SIZE);
  p->blocks = p->block_size ? (p->n_out + p->block_size - 1) / p->block_size : 0;
  p->top_k = m->version >= 4 ? rg_u32(e + RG_E_TOP_K) : 0;
  p->in_zp = rg_s32(rg_u32(e + RG_E_IN_ZP));
  p->out_zp = rg_s32(rg_u32(e + RG_E_OUT_ZP));
  p->act_min = act == 1 ? p->out_zp : -128;
  p->act_max = 127;
  p->weights = (const int8_t *)(b + rg_u32(e + RG_E_WEIGHTS));
  p->bias = (const int32_t *)(const void *)(b + rg_u32(e + RG_E_BIAS));
  p->multiplier = (const int32_t *)(const void *)(b + rg_u32(e + RG_E_MULT));
  p->shift = (const int32_t *)(const void *)(b + rg_u32(e + RG_E_SHIFT));
  p->est_a = p->rank ? (const int8_t *)(b + rg_u32(e + RG_E_EST_A)) : NULL;
  p->t_multiplier = p->rank ? (const int32_t *)(const void *)(b + rg_u32(e + RG_E_T_MULT)) : NULL;
  p->t_shift = p->rank ? (const int32_t *)(const void *)(b + rg_u32(e + RG_E_T_SHIFT)) : NULL;
  p->est_b = p->rank ? (const int8_t *)(b + rg_u32(e + RG_E_EST_B)) : NULL;
  p->threshold = p->rank ? (const int32_t *)(const void *)(b + rg_u32(e + RG_E_THRESHOLD)) : NULL;
  p->gate_weights = p->blocks ? (const int8_t *)(b + rg_u32(e + RG_E_GATE_W)) : NULL;
  p->gate_threshold = p->blocks ? (const int32_t *)(const void *)(b + rg_u32(e + RG_E_GATE_THR)) : NULL;
}
