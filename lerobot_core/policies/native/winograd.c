/* Winograd F(4x4, 3x3) and F(6x6, 3x3) convolution kernels for channels-last (NHWC) float32 maps.
 *
 * GNU C99 (vector extensions), no Python or torch headers: lerobot_core/policies/native/__init__.py compiles
 * it with the system C compiler (-O3 -march=native -fopenmp, no -ffast-math) and calls it through ctypes.
 * The transforms' inner loops run over contiguous channels so that the compiler vectorizes them; per tile
 * they work on a block of channels in small stack buffers that stay in L1.
 *
 * Tiles (output tile m = 4 or 6, alpha = m + 2): tile (ty, tx) of an H x W image covers input rows
 * m ty - 1 .. m ty + m and the same columns (padding 1: rows and columns outside the image read as zero), and
 * output rows m ty .. m ty + m - 1 (those outside the image are not written). Tiles are numbered (image, tile
 * row, tile column). Transformed tiles: v[alpha^2][tiles][C] (input side), m[alpha^2][tiles][K] (the GEMMs'
 * result). Entry points: winograd_conv_parallel (fused, OpenMP) and, for F(4x4) strips around an external
 * batched GEMM, winograd_f43_input / winograd_f43_output (a strip: images n0, n0+1, ... x tile rows
 * [r0, r1) x all tw tile columns, P tiles; a call handles its tiles [t0, t1)).
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

/* o[b] = sum_j BT[b][j] d[j] for F(6, 3) (points 0, +-1, +-2, +-1/2, inf): B^T =
 * [1 0 -21/4 0 21/4 0 -1 0; 0 1 1 -17/4 -17/4 1 1 0; 0 -1 1 17/4 -17/4 -1 1 0; 0 1/2 1/4 -5/2 -5/4 2 1 0;
 *  0 -1/2 1/4 5/2 -5/4 -2 1 0; 0 2 4 -5/2 -5 1/2 1 0; 0 -2 4 5/2 -5 -1/2 1 0; 0 -1 0 21/4 0 -21/4 0 1]. */
static inline void bt8(idx n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
                       const float *restrict d3, const float *restrict d4, const float *restrict d5,
                       const float *restrict d6, const float *restrict d7, float *restrict o0, float *restrict o1,
                       float *restrict o2, float *restrict o3, float *restrict o4, float *restrict o5,
                       float *restrict o6, float *restrict o7) {
    for (idx c = 0; c < n; c++) {
        const float a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c], a4 = d4[c], a5 = d5[c], a6 = d6[c], a7 = d7[c];
        o0[c] = a0 - a6 + 5.25f * (a4 - a2);
        o7[c] = a7 - a1 + 5.25f * (a3 - a5);
        float p = a2 + a6 - 4.25f * a4, q = a1 + a5 - 4.25f * a3;
        o1[c] = p + q;
        o2[c] = p - q;
        p = a6 + 0.25f * a2 - 1.25f * a4;
        q = 0.5f * a1 - 2.5f * a3 + 2.0f * a5;
        o3[c] = p + q;
        o4[c] = p - q;
        p = a6 + 4.0f * a2 - 5.0f * a4;
        q = 2.0f * a1 - 2.5f * a3 + 0.5f * a5;
        o5[c] = p + q;
        o6[c] = p - q;
    }
}

/* o[q] = sum_b AT[q][b] m[b] for F(6, 3): A^T rows [1 1 1 1 1 1 1 0], [0 1 -1 2^k -2^k 2^-k -2^-k 0] (k = 1, 3, 5;
 * the last one + m7) and [0 1 1 2^k 2^k 2^-k 2^-k 0] (k = 2, 4). */
static inline void at6(idx n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                       const float *restrict m3, const float *restrict m4, const float *restrict m5,
                       const float *restrict m6, const float *restrict m7, float *restrict o0, float *restrict o1,
                       float *restrict o2, float *restrict o3, float *restrict o4, float *restrict o5) {
    for (idx c = 0; c < n; c++) {
        const float a1 = m1[c] + m2[c], s1 = m1[c] - m2[c], a2 = m3[c] + m4[c], s2 = m3[c] - m4[c];
        const float a3 = m5[c] + m6[c], s3 = m5[c] - m6[c];
        o0[c] = m0[c] + a1 + a2 + a3;
        o1[c] = s1 + 2.0f * s2 + 0.5f * s3;
        o2[c] = a1 + 4.0f * a2 + 0.25f * a3;
        o3[c] = s1 + 8.0f * s2 + 0.125f * s3;
        o4[c] = a1 + 16.0f * a2 + 0.0625f * a3;
        o5[c] = s1 + 32.0f * s2 + 0.03125f * s3 + m7[c];
    }
}

/* Input transform B^T d B (F(m x m, 3 x 3), m = 4 or 6, alpha = m + 2) of the tiles [t0, t1) into
 * v[alpha^2][.][C] (tile t at row t - first of each plane of `plane` floats).
 * x: the map's element (0, 0, 0, 0), strides (sn, sh, sw) in floats, unit channel stride. */
static void input_tiles(int mt, const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx n0, idx r0,
                        idx r1, idx tw, idx t0, idx t1, float *v, idx first, idx plane) {
    const idx per_image = (r1 - r0) * tw;
    const int al = mt + 2;
    float t[64][CB] __attribute__((aligned(64)));
    for (idx tile = t0; tile < t1; tile++) {
        const idx n = n0 + tile / per_image, ty = r0 + (tile % per_image) / tw, tx = tile % tw;
        const idx y0 = mt * ty - 1, x0 = mt * tx - 1;
        for (idx c0 = 0; c0 < C; c0 += CB) {
            const idx nc = C - c0 < CB ? C - c0 : CB;
            const float *d[8][8];
            for (int i = 0; i < al; i++) {
                const idx yy = y0 + i;
                for (int j = 0; j < al; j++) {
                    const idx xx = x0 + j;
                    d[i][j] = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? x + n * sn + yy * sh + xx * sw + c0
                                                                       : ZEROS;
                }
            }
            float *o = v + (tile - first) * C + c0;
            if (mt == 4) {
                for (int i = 0; i < 6; i++) /* along each row i: t[i][b] = sum_j BT[b][j] d[i][j] */
                    bt6(nc, d[i][0], d[i][1], d[i][2], d[i][3], d[i][4], d[i][5], t[6 * i], t[6 * i + 1],
                        t[6 * i + 2], t[6 * i + 3], t[6 * i + 4], t[6 * i + 5]);
                for (int b = 0; b < 6; b++) /* along each column b: v[a][b] = sum_i BT[a][i] t[i][b] */
                    bt6(nc, t[b], t[6 + b], t[12 + b], t[18 + b], t[24 + b], t[30 + b], o + b * plane,
                        o + (6 + b) * plane, o + (12 + b) * plane, o + (18 + b) * plane, o + (24 + b) * plane,
                        o + (30 + b) * plane);
            } else {
                for (int i = 0; i < 8; i++)
                    bt8(nc, d[i][0], d[i][1], d[i][2], d[i][3], d[i][4], d[i][5], d[i][6], d[i][7], t[8 * i],
                        t[8 * i + 1], t[8 * i + 2], t[8 * i + 3], t[8 * i + 4], t[8 * i + 5], t[8 * i + 6],
                        t[8 * i + 7]);
                for (int b = 0; b < 8; b++)
                    bt8(nc, t[b], t[8 + b], t[16 + b], t[24 + b], t[32 + b], t[40 + b], t[48 + b], t[56 + b],
                        o + b * plane, o + (8 + b) * plane, o + (16 + b) * plane, o + (24 + b) * plane,
                        o + (32 + b) * plane, o + (40 + b) * plane, o + (48 + b) * plane, o + (56 + b) * plane);
            }
        }
    }
}

/* Output transform A^T m A (m = 4 or 6) of the tiles [t0, t1) from m[alpha^2][.][K] (tile t at row
 * t - first of each plane) into the NHWC map y (element (0, 0, 0, 0), strides (yn, yh, yw), unit channel
 * stride), adding bias[K] (may be NULL) and the NHWC residual res (may be NULL; strides (rn, rh, rw)), then
 * ReLU when relu != 0. */
static void output_tiles(int mt, const float *m, idx K, idx n0, idx r0, idx r1, idx tw, idx t0, idx t1, idx first,
                         idx plane, const float *bias, const float *res, idx rn, idx rh, idx rw, int relu, float *y,
                         idx yn, idx yh, idx yw, idx H, idx W) {
    const idx per_image = (r1 - r0) * tw;
    float s[48][CB] __attribute__((aligned(64)));
    float o[36][CB] __attribute__((aligned(64)));
    for (idx tile = t0; tile < t1; tile++) {
        const idx n = n0 + tile / per_image, ty = r0 + (tile % per_image) / tw, tx = tile % tw;
        const idx rows = H - mt * ty < mt ? H - mt * ty : mt, cols = W - mt * tx < mt ? W - mt * tx : mt;
        for (idx k0 = 0; k0 < K; k0 += CB) {
            const idx nk = K - k0 < CB ? K - k0 : CB;
            const float *mp = m + (tile - first) * K + k0;
            if (mt == 4) {
                for (int a = 0; a < 6; a++) /* along each row a: s[a][q] = sum_b AT[q][b] m[a][b] */
                    at4(nk, mp + (6 * a) * plane, mp + (6 * a + 1) * plane, mp + (6 * a + 2) * plane,
                        mp + (6 * a + 3) * plane, mp + (6 * a + 4) * plane, mp + (6 * a + 5) * plane, s[4 * a],
                        s[4 * a + 1], s[4 * a + 2], s[4 * a + 3]);
                for (int q = 0; q < 4; q++) /* along each column q: o[p][q] = sum_a AT[p][a] s[a][q] */
                    at4(nk, s[q], s[4 + q], s[8 + q], s[12 + q], s[16 + q], s[20 + q], o[q], o[4 + q], o[8 + q],
                        o[12 + q]);
            } else {
                for (int a = 0; a < 8; a++)
                    at6(nk, mp + (8 * a) * plane, mp + (8 * a + 1) * plane, mp + (8 * a + 2) * plane,
                        mp + (8 * a + 3) * plane, mp + (8 * a + 4) * plane, mp + (8 * a + 5) * plane,
                        mp + (8 * a + 6) * plane, mp + (8 * a + 7) * plane, s[6 * a], s[6 * a + 1], s[6 * a + 2],
                        s[6 * a + 3], s[6 * a + 4], s[6 * a + 5]);
                for (int q = 0; q < 6; q++)
                    at6(nk, s[q], s[6 + q], s[12 + q], s[18 + q], s[24 + q], s[30 + q], s[36 + q], s[42 + q], o[q],
                        o[6 + q], o[12 + q], o[18 + q], o[24 + q], o[30 + q]);
            }
            const float *b = bias ? bias + k0 : ZEROS;
            for (idx p = 0; p < rows; p++) {
                for (idx q = 0; q < cols; q++) {
                    const idx yy = mt * ty + p, xx = mt * tx + q;
                    float *restrict out = y + n * yn + yy * yh + xx * yw + k0;
                    const float *restrict val = o[mt * p + q];
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

/* F(4x4, 3x3) input transform of the strip's tiles [t0, t1) (of P) into v[36][P][C]. */
void winograd_f43_input(const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx n0, idx r0, idx r1,
                        idx tw, idx P, idx t0, idx t1, float *v) {
    input_tiles(4, x, sn, sh, sw, H, W, C, n0, r0, r1, tw, t0, t1, v, 0, P * C);
}

/* F(4x4, 3x3) output transform of the strip's tiles [t0, t1) (of P) from m[36][P][K] into y. */
void winograd_f43_output(const float *m, idx K, idx n0, idx r0, idx r1, idx tw, idx P, idx t0, idx t1,
                         const float *bias, const float *res, idx rn, idx rh, idx rw, int relu, float *y, idx yn,
                         idx yh, idx yw, idx H, idx W) {
    output_tiles(4, m, K, n0, r0, r1, tw, t0, t1, 0, P * K, bias, res, rn, rh, rw, relu, y, yn, yh, yw, H, W);
}

/* ---- Fused convolution: per block of tiles, input transform, the GEMMs and the output transform, so that the
 * transformed tiles never leave the core's cache. ---- */

typedef float vf __attribute__((vector_size(64), aligned(4))); /* 16 floats, unaligned access allowed */

static inline vf vload(const float *p) {
    vf r;
    __builtin_memcpy(&r, p, sizeof r);
    return r;
}

static inline void vstore(float *p, vf v) { __builtin_memcpy(p, &v, sizeof v); }

/* m[6][K] = v[6][C] @ u[C][K] (row strides: C for v, ldu for u, K for m); K % 16 == 0. */
static void gemm6(idx C, idx K, idx ldu, const float *restrict v, const float *restrict u, float *restrict m) {
    idx k0 = 0;
    for (; k0 + 64 <= K; k0 += 64) {
        vf a[6][4];
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 4; j++) a[r][j] = (vf){0};
        for (idx c = 0; c < C; c++) {
            const float *uc = u + c * ldu + k0;
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
            const vf u0 = vload(u + c * ldu + k0);
            for (int r = 0; r < 6; r++) a[r] += v[r * C + c] * u0;
        }
        for (int r = 0; r < 6; r++) vstore(m + r * K + k0, a[r]);
    }
}

/* F(m x m, 3 x 3) convolution of the tiles [t0, t1) of the whole map (all images x th tile rows x tw tile
 * columns), output channels [kb, ke) (a multiple of 16), block tiles at a time; y as in output_tiles.
 * u[alpha^2][C][K]: transformed weights. scratch: alpha^2 * round_up(block, 6) * (C + ke - kb) floats, one
 * buffer per concurrent caller. */
static void conv_tiles(int mt, const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx K, idx th, idx tw,
                       idx t0, idx t1, idx kb, idx ke, idx block, const float *u, const float *bias, const float *res,
                       idx rn, idx rh, idx rw, int relu, float *y, idx yn, idx yh, idx yw, float *scratch) {
    const idx rows = (block + 5) / 6 * 6, positions = (mt + 2) * (mt + 2), N = ke - kb;
    float *v = scratch, *m = scratch + positions * rows * C;
    for (idx i = 0; i < positions * rows * C; i++) v[i] = 0.0f; /* rows past a short last block stay finite */
    for (idx b0 = t0; b0 < t1; b0 += block) {
        const idx b1 = b0 + block < t1 ? b0 + block : t1, r6 = (b1 - b0 + 5) / 6 * 6;
        input_tiles(mt, x, sn, sh, sw, H, W, C, 0, 0, th, tw, b0, b1, v, b0, rows * C);
        for (idx pos = 0; pos < positions; pos++) {
            const float *vp = v + pos * rows * C, *up = u + pos * C * K + kb;
            float *mp = m + pos * rows * N;
            for (idx r = 0; r < r6; r += 6) gemm6(C, N, K, vp + r * C, up, mp + r * N);
        }
        output_tiles(mt, m, N, 0, 0, th, tw, b0, b1, b0, rows * N, bias ? bias + kb : NULL, res ? res + kb : NULL, rn,
                     rh, rw, relu, y + kb, yn, yh, yw, H, W);
    }
}

/* 1 when built with OpenMP (then winograd_conv_parallel runs on the process's OpenMP threads: torch's
 * libgomp, the same soname, so no second pool competes for the cores). */
int winograd_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Fused F(m x m, 3 x 3) convolution (m = 4 or 6) of an NHWC map (n images, th x tw tiles each; strides as
 * input_tiles) into y (as output_tiles) on `threads` OpenMP threads: each takes a contiguous range of the tiles,
 * or with split_channels a range of the output channels (multiples of 16) of all tiles (weights too large to
 * be read by every thread). u[(m + 2)^2][C][K], K % 16 == 0; scratch: threads consecutive buffers of
 * scratch_stride floats. */
void winograd_conv_parallel(int mt, const float *x, idx sn, idx sh, idx sw, idx H, idx W, idx C, idx K, idx n,
                            idx th, idx tw, idx block, int split_channels, const float *u, const float *bias,
                            const float *res, idx rn, idx rh, idx rw, int relu, float *y, idx yn, idx yh, idx yw,
                            float *scratch, idx scratch_stride, int threads) {
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
        float *mine = scratch + i * scratch_stride;
        if (split_channels) {
            const idx groups = K / 16, kb = 16 * (groups * i / parts), ke = 16 * (groups * (i + 1) / parts);
            if (ke > kb)
                conv_tiles(mt, x, sn, sh, sw, H, W, C, K, th, tw, 0, tiles, kb, ke, block, u, bias, res, rn, rh, rw,
                           relu, y, yn, yh, yw, mine);
        } else {
            conv_tiles(mt, x, sn, sh, sw, H, W, C, K, th, tw, tiles * i / parts, tiles * (i + 1) / parts, 0, K, block,
                       u, bias, res, rn, rh, rw, relu, y, yn, yh, yw, mine);
        }
    }
}
