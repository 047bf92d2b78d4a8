/* The machine's FP32 FMA peak, measured: independent chains of vfmadd on
 * registers only (no memory traffic), long enough to hide FMA latency on every
 * x86 core we know (latency 4-5 cycles, up to 2 FMA issues per cycle: 10
 * chains are needed, 12 leave room), run on 1 and then on all OpenMP threads.
 *
 *   gcc -O2 -mavx512f -mfma -fopenmp fma_peak.c -o fma_peak && ./fma_peak [seconds [repetitions]]
 *
 * Prints one line per width and thread count:  avx512 threads=2 gflops=...
 * The best of several repetitions is kept: the machine is shared, and the
 * peak is what the core can do, not what it did while others ran; many
 * short repetitions are likelier to catch a quiet moment than a few long. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define CHAINS 12

/* Each iteration issues CHAINS fmas of `lanes` floats: 2*lanes*CHAINS flops. */
static float run_avx512(long iterations)
{
    __m512 acc[CHAINS];
    const __m512 mul = _mm512_set1_ps(0.999999f);
    const __m512 add = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iterations; i++) {
        /* Unrolled, so the chains live in registers: at -O2 gcc would keep
         * the array on the stack and time store-to-load forwarding instead. */
#pragma GCC unroll 16
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], mul, add);
    }
    __m512 sum = acc[0];
    for (int c = 1; c < CHAINS; c++) sum = _mm512_add_ps(sum, acc[c]);
    return _mm512_reduce_add_ps(sum);
}

static float run_avx2(long iterations)
{
    __m256 acc[CHAINS];
    const __m256 mul = _mm256_set1_ps(0.999999f);
    const __m256 add = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iterations; i++) {
#pragma GCC unroll 16
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], mul, add);
    }
    __m256 sum = acc[0];
    for (int c = 1; c < CHAINS; c++) sum = _mm256_add_ps(sum, acc[c]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    float total = 0;
    for (int l = 0; l < 8; l++) total += lanes[l];
    return total;
}

/* GFLOP/s of `threads` threads each running `iterations`; best of `reps`. */
static double measure(int avx512, int threads, long iterations, int reps, float *sink)
{
    const int lanes = avx512 ? 16 : 8;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = 0, t1 = 0;
        float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
#pragma omp barrier
#pragma omp single
            t0 = omp_get_wtime();
            total += avx512 ? run_avx512(iterations) : run_avx2(iterations);
#pragma omp barrier
#pragma omp single
            t1 = omp_get_wtime();
        }
        *sink += total;
        double flops = 2.0 * lanes * CHAINS * (double)iterations * threads;
        double gflops = flops / (t1 - t0) / 1e9;
        if (gflops > best) best = gflops;
    }
    return best;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.1;
    int reps = argc > 2 ? atoi(argv[2]) : 15;
    if (reps < 1) reps = 1;
    int max_threads = omp_get_num_procs();
    float sink = 0;
    /* Calibrate the iteration count so one repetition lasts about `seconds`. */
    long iterations = 1000000;
    double t0 = omp_get_wtime();
    sink += run_avx512(iterations);
    double dt = omp_get_wtime() - t0;
    if (dt > 0) iterations = (long)(iterations * seconds / dt);
    if (iterations < 1000) iterations = 1000;
    for (int avx512 = 1; avx512 >= 0; avx512--) {
        for (int threads = 1; threads <= max_threads; threads = threads < max_threads ? max_threads : threads + 1) {
            double g = measure(avx512, threads, avx512 ? iterations : iterations * 2, reps, &sink);
            printf("%s threads=%d gflops=%.1f\n", avx512 ? "avx512" : "avx2", threads, g);
        }
    }
    /* Keep the chains alive: the compiler may not drop the work. */
    if (sink == 12345.0f) printf("#\n");
    return 0;
}
