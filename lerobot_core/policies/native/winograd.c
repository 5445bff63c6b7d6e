/* Winograd F(4x4, 3x3) input and output transforms for channels-last (NHWC) float32 maps.
 *
 * C (GNU C99: vector extensions), no Python or torch headers: lerobot_core/policies/native/__init__.py compiles it with the
 * system C compiler (-O3 -march=native, no -ffast-math) and calls it through ctypes. The inner loops run
 * over contiguous channels so that the compiler vectorizes them; per tile the transforms work on a block of
 * channels in a small stack buffer that stays in L1.
 *
 * Tiles: tile (ty, tx) of an H x W image covers input rows 4ty-1 .. 4ty+4 and columns 4tx-1 .. 4tx+4
 * (padding 1: rows and columns outside the image read as zero) and output rows 4ty .. 4ty+3, columns
 * 4tx .. 4tx+3 (those outside the image are not written). A strip is images n0, n0+1, ... x tile rows
 * [r0, r1) x all tw tile columns, numbered (image, tile row, tile column): P tiles in all. A call handles
 * the strip's tiles [t0, t1), so that threads can share a strip.
 * Transformed tiles: v[36][P][C] (input side), m[36][P][K] (output side: the 36 GEMMs' result).
 */
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define CB 64 /* channels per block: 36 x 64 floats of scratch = 9 KB */

typedef long idx;

static const float ZEROS[CB] __attribute__((aligned(64)));

/* o[b] = sum_j BT[b][j] d[j] with B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
 * 0 2 -1 -2 1 0; 0 4 0 -5 0 1] (shared sub-expressions). */
static inline void bt6(idx n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
                       const float *restrict d3, const float *restrict d4, const float *restrict d5,
                       float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3,
                       float *restrict o4, float *restrict o5) {
    for (idx c = 0; c < n; c++) {
        const float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c], a4 = d4[c], a5 = d5[c];
        const float p = a4 - 4.0f * a2, q = a3 - 4.0f * a1;
        const float r = a4 - a2, s = 2.0f * (a3 - a1);
        o0[c] = 4.0f * a0 - 5.0f * a2 + a4;
        o1[c] = p + q;
        o2[c] = p - q;
        o3[c] = r + s;
        o4[c] = r - s;
        o5[c] = 4.0f * a1 - 5.0f * a3 + a5;
    }
}

/* o[q] = sum_b AT[q][b] m[b] with A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
static inline void at4(idx n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                       const float *restrict m3, const float *restrict m4, const float *restrict m5,
                       float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3) {
    for (idx c = 0; c < n; c++) {
        const float p12 = m1[c] + m2[c], d12 = m1[c] - m2[c];
        const float p34 = m3[c] + m4[c], d34 = m3[c] - m4[c];
        o0[c] = m0[c] + p12 + p34;
        o1[c] = d12 + 2.0f * d34;
        o2[c] = p12 + 4.0f * p34;
        o3[c] = d12 + 8.0f * d34 + m5[c];
    }
}

/* Input transform B^T d B of the strip's tiles [t0, t1) (of P) into v[36][P][C].
 * x: the map's element (0, 0, 0, 0), strides (sn, sh, sw) in floats, unit channel stride. */
static void input_tiles(const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx n0, idx r0, idx r1,
                        idx tw, idx t0, idx t1, float *v, idx first, idx plane) {
    const idx per_image = (r1 - r0) * tw;
    float t[36][CB] __attribute__((aligned(64)));
    for (idx tile = t0; tile < t1; tile++) {
        const idx n = n0 + tile / per_image, ty = r0 + (tile % per_image) / tw, tx = tile % tw;
        const idx y0 = 4 * ty - 1, x0 = 4 * tx - 1;
        for (idx c0 = 0; c0 < C; c0 += CB) {
            const idx nc = C - c0 < CB ? C - c0 : CB;
            const float *d[6][6];
            for (int i = 0; i < 6; i++) {
                const idx yy = y0 + i;
                for (int j = 0; j < 6; j++) {
                    const idx xx = x0 + j;
                    d[i][j] = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? x + n * sn + yy * sh + xx * sw + c0
                                                                       : ZEROS;
                }
            }
            for (int i = 0; i < 6; i++) /* along each row i: t[i][b] = sum_j BT[b][j] d[i][j] */
                bt6(nc, d[i][0], d[i][1], d[i][2], d[i][3], d[i][4], d[i][5], t[6 * i], t[6 * i + 1],
                    t[6 * i + 2], t[6 * i + 3], t[6 * i + 4], t[6 * i + 5]);
            float *o = v + (tile - first) * C + c0;
            for (int b = 0; b < 6; b++) /* along each column b: v[a][b] = sum_i BT[a][i] t[i][b] */
                bt6(nc, t[b], t[6 + b], t[12 + b], t[18 + b], t[24 + b], t[30 + b], o + b * plane,
                    o + (6 + b) * plane, o + (12 + b) * plane, o + (18 + b) * plane, o + (24 + b) * plane,
                    o + (30 + b) * plane);
        }
    }
}

/* Output transform A^T m A of the strip's tiles [t0, t1) (of P) from m[36][P][K] into the NHWC map y
 * (element (0, 0, 0, 0), strides (yn, yh, yw), unit channel stride), adding bias[K] (may be NULL) and
 * the NHWC residual res (may be NULL; strides (rn, rh, rw)), then ReLU when relu != 0. */
static void output_tiles(const float *m, idx K, idx n0, idx r0, idx r1, idx tw, idx t0, idx t1, idx first,
                         idx plane, const float *bias, const float *res, idx rn, idx rh, idx rw, int relu, float *y,
                         idx yn, idx yh, idx yw, idx H, idx W) {
    const idx per_image = (r1 - r0) * tw;
    float s[24][CB] __attribute__((aligned(64)));
    float o[16][CB] __attribute__((aligned(64)));
    for (idx tile = t0; tile < t1; tile++) {
        const idx n = n0 + tile / per_image, ty = r0 + (tile % per_image) / tw, tx = tile % tw;
        const idx rows = H - 4 * ty < 4 ? H - 4 * ty : 4, cols = W - 4 * tx < 4 ? W - 4 * tx : 4;
        for (idx k0 = 0; k0 < K; k0 += CB) {
            const idx nk = K - k0 < CB ? K - k0 : CB;
            const float *mt = m + (tile - first) * K + k0;
            for (int a = 0; a < 6; a++) /* along each row a: s[a][q] = sum_b AT[q][b] m[a][b] */
                at4(nk, mt + (6 * a) * plane, mt + (6 * a + 1) * plane, mt + (6 * a + 2) * plane,
                    mt + (6 * a + 3) * plane, mt + (6 * a + 4) * plane, mt + (6 * a + 5) * plane, s[4 * a],
                    s[4 * a + 1], s[4 * a + 2], s[4 * a + 3]);
            for (int q = 0; q < 4; q++) /* along each column q: o[p][q] = sum_a AT[p][a] s[a][q] */
                at4(nk, s[q], s[4 + q], s[8 + q], s[12 + q], s[16 + q], s[20 + q], o[q], o[4 + q], o[8 + q],
                    o[12 + q]);
            const float *b = bias ? bias + k0 : ZEROS;
            for (idx p = 0; p < rows; p++) {
                for (idx q = 0; q < cols; q++) {
                    const idx yy = 4 * ty + p, xx = 4 * tx + q;
                    float *restrict out = y + n * yn + yy * yh + xx * yw + k0;
                    const float *restrict val = o[4 * p + q];
                    if (res) {
                        const float *restrict r = res + n * rn + yy * rh + xx * rw + k0;
                        if (relu)
                            for (idx c = 0; c < nk; c++) {
                                const float z = val[c] + b[c] + r[c];
                                out[c] = z > 0.0f ? z : 0.0f;
                            }
                        else
                            for (idx c = 0; c < nk; c++) out[c] = val[c] + b[c] + r[c];
                    } else if (relu) {
                        for (idx c = 0; c < nk; c++) {
                            const float z = val[c] + b[c];
                            out[c] = z > 0.0f ? z : 0.0f;
                        }
                    } else {
                        for (idx c = 0; c < nk; c++) out[c] = val[c] + b[c];
                    }
                }
            }
        }
    }
}

void winograd_f43_input(const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx n0, idx r0, idx r1,
                        idx tw, idx P, idx t0, idx t1, float *v) {
    input_tiles(x, sn, sh, sw, H, W, C, n0, r0, r1, tw, t0, t1, v, 0, P * C);
}

void winograd_f43_output(const float *m, idx K, idx n0, idx r0, idx r1, idx tw, idx P, idx t0, idx t1,
                         const float *bias, const float *res, idx rn, idx rh, idx rw, int relu, float *y, idx yn,
                         idx yh, idx yw, idx H, idx W) {
    output_tiles(m, K, n0, r0, r1, tw, t0, t1, 0, P * K, bias, res, rn, rh, rw, relu, y, yn, yh, yw, H, W);
}

/* ---- Fused convolution: per block of tiles, input transform, the 36 GEMMs and the output transform, so that
 * the transformed tiles never leave the core's cache. ---- */

typedef float vf __attribute__((vector_size(64), aligned(4))); /* 16 floats, unaligned access allowed */

static inline vf vload(const float *p) {
    vf r;
    __builtin_memcpy(&r, p, sizeof r);
    return r;
}

static inline void vstore(float *p, vf v) { __builtin_memcpy(p, &v, sizeof v); }

/* m[6][K] = v[6][C] @ u[C][K] (row strides C for v, K for m); K % 16 == 0. */
static void gemm6(idx C, idx K, const float *restrict v, const float *restrict u, float *restrict m) {
    idx k0 = 0;
    for (; k0 + 64 <= K; k0 += 64) {
        vf a[6][4];
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 4; j++) a[r][j] = (vf){0};
        for (idx c = 0; c < C; c++) {
            const float *uc = u + c * K + k0;
            const vf u0 = vload(uc), u1 = vload(uc + 16), u2 = vload(uc + 32), u3 = vload(uc + 48);
#pragma GCC unroll 6
            for (int r = 0; r < 6; r++) {
                const float b = v[r * C + c];
                a[r][0] += b * u0; a[r][1] += b * u1; a[r][2] += b * u2; a[r][3] += b * u3;
            }
        }
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 4; j++) vstore(m + r * K + k0 + 16 * j, a[r][j]);
    }
    for (; k0 < K; k0 += 16) {
        vf a[6];
        for (int r = 0; r < 6; r++) a[r] = (vf){0};
        for (idx c = 0; c < C; c++) {
            const vf u0 = vload(u + c * K + k0);
            for (int r = 0; r < 6; r++) a[r] += v[r * C + c] * u0;
        }
        for (int r = 0; r < 6; r++) vstore(m + r * K + k0, a[r]);
    }
}

/* Winograd convolution of the tiles [t0, t1) of the whole map (all images x th tile rows x tw tile columns),
 * block tiles at a time; y as in winograd_f43_output. u[36][C][K]: transformed weights, K % 16 == 0.
 * scratch: 36 * round_up(block, 6) * (C + K) floats, one buffer per concurrent caller. */
void winograd_f43_conv(const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx K, idx th, idx tw,
                       idx t0, idx t1, idx block, const float *u, const float *bias, const float *res, idx rn, idx rh,
                       idx rw, int relu, float *y, idx yn, idx yh, idx yw, float *scratch) {
    const idx rows = (block + 5) / 6 * 6;
    float *v = scratch, *m = scratch + 36 * rows * C;
    for (idx i = 0; i < 36 * rows * C; i++) v[i] = 0.0f; /* rows past a short last block stay finite */
    for (idx b0 = t0; b0 < t1; b0 += block) {
        const idx b1 = b0 + block < t1 ? b0 + block : t1, count = b1 - b0;
        input_tiles(x, sn, sh, sw, H, W, C, 0, 0, th, tw, b0, b1, v, b0, rows * C);
        const idx r6 = (count + 5) / 6 * 6;
        for (int pos = 0; pos < 36; pos++) {
            const float *vp = v + pos * rows * C, *up = u + pos * C * K;
            float *mp = m + pos * rows * K;
            for (idx r = 0; r < r6; r += 6) gemm6(C, K, vp + r * C, up, mp + r * K);
        }
        output_tiles(m, K, 0, 0, th, tw, b0, b1, b0, rows * K, bias, res, rn, rh, rw, relu, y, yn, yh, yw, H, W);
    }
}

/* 1 when built with OpenMP (then winograd_f43_conv_parallel runs on the process's OpenMP threads: torch's
 * libgomp, the same soname, so no second pool competes for the cores). */
int winograd_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* winograd_f43_conv over all n * th * tw tiles, split across `threads` OpenMP threads (one contiguous range
 * each); scratch: threads consecutive buffers of scratch_stride floats. */
void winograd_f43_conv_parallel(const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx K, idx n, idx th,
                                idx tw, idx block, const float *u, const float *bias, const float *res, idx rn,
                                idx rh, idx rw, int relu, float *y, idx yn, idx yh, idx yw, float *scratch,
                                idx scratch_stride, int threads) {
    const idx tiles = n * th * tw;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
        const idx i = omp_get_thread_num(), parts = omp_get_num_threads();
#else
    {
        const idx i = 0, parts = 1;
        (void)threads;
#endif
        winograd_f43_conv(x, sn, sh, sw, H, W, C, K, th, tw, tiles * i / parts, tiles * (i + 1) / parts, block, u,
                          bias, res, rn, rh, rw, relu, y, yn, yh, yw, scratch + i * scratch_stride);
    }
}
