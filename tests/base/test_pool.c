/* base/tk_pool.c: init errors and OOM, fill levels, object layout, reuse, misuse panics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base_tests.h"
#include "tk.h"
#include "tk_test.h"

static void expect_init_error(tk_test_mem *tm, size_t obj_size, uint32_t capacity, tk_err want)
{
    tk_pool pool;
    tk_test_mark(&pool, sizeof(pool));
    uint64_t attempts = tm->attempts;
    tk_err err = tk_pool_init(&pool, obj_size, capacity, &tm->mem);
    if (err != want) {
        fail_msg("tk_pool_init(size %zu, capacity %u): got %s, want %s", obj_size, capacity,
                 tk_err_name(err), tk_err_name(want));
    }
    assert_true(tk_test_is_marked(&pool, sizeof(pool)));
    assert_int_equal(tm->live_bytes, 0);
    if (want == TK_EINVAL) assert_int_equal(tm->attempts, attempts); /* nothing allocated */
}

static void test_pool_init_invalid(void **state)
{
    tk_test_mem *tm = *state;
    expect_init_error(tm, 8, 0, TK_EINVAL);
    expect_init_error(tm, 8, TK_POOL_CAPACITY_MAX + 1u, TK_EINVAL);
    expect_init_error(tm, 8, TK_POOL_CAPACITY_MAX * 2u, TK_EINVAL);
    expect_init_error(tm, 8, UINT32_MAX, TK_EINVAL);
    expect_init_error(tm, 0, 1, TK_EINVAL);
    expect_init_error(tm, 0, 16, TK_EINVAL);
}

static void test_pool_init_huge_sizes(void **state)
{
    tk_test_mem *tm = *state;
    tk_test_mem_cap(tm, (size_t)1 << 26); /* an overflowed size shows as a wrong TK_OK */
    const struct {
        size_t obj_size;
        uint32_t capacity;
    } cases[] = {
        {SIZE_MAX, 1},
        {SIZE_MAX, 2},
        {SIZE_MAX / 2u + 1u, 2},
        {SIZE_MAX / 4u + 1u, 4},
        {SIZE_MAX / 16u + 1u, 16},
        {(size_t)1 << 40, TK_POOL_CAPACITY_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tk_pool pool;
        tk_test_mark(&pool, sizeof(pool));
        tk_err err = tk_pool_init(&pool, cases[i].obj_size, cases[i].capacity, &tm->mem);
        if (err != TK_EINVAL && err != TK_ENOMEM) {
            fail_msg("size %zu x %u: got %s, want TK_EINVAL or TK_ENOMEM", cases[i].obj_size,
                     cases[i].capacity, tk_err_name(err));
        }
        assert_true(tk_test_is_marked(&pool, sizeof(pool)));
        assert_int_equal(tm->live_bytes, 0);
    }
}

static void test_pool_init_max_capacity_accepted(void **state)
{
    tk_test_mem *tm = *state;
    /* Every allocation fails, so the largest legal pool reaches the allocator: TK_ENOMEM, not
     * TK_EINVAL, and nothing is left allocated. */
    tk_test_mem_fail(tm, 0, UINT64_MAX);
    expect_init_error(tm, 1, TK_POOL_CAPACITY_MAX, TK_ENOMEM);
    expect_init_error(tm, 64, TK_POOL_CAPACITY_MAX, TK_ENOMEM);
    assert_true(tm->attempts > 0);
}

/* Fail attempt fail_at (fail_count attempts in all) for every fail_at until init succeeds. */
static void pool_oom_sweep(tk_test_mem *tm, uint64_t fail_count)
{
    uint64_t fail_at = 0;
    for (;; fail_at++) {
        assert_true(fail_at < 100); /* init makes a handful of allocations */
        tk_test_mem_fail(tm, fail_at, fail_count);
        tk_pool pool;
        tk_test_mark(&pool, sizeof(pool));
        tk_err err = tk_pool_init(&pool, 40, 100, &tm->mem);
        if (err == TK_OK) {
            assert_int_equal(tk_pool_capacity(&pool), 100);
            tk_pool_fini(&pool);
            break;
        }
        if (err != TK_ENOMEM) fail_msg("fail_at %" PRIu64 ": got %s", fail_at, tk_err_name(err));
        assert_true(tk_test_is_marked(&pool, sizeof(pool)));
        assert_int_equal(tm->live_bytes, 0);
    }
    assert_true(fail_at >= 1); /* at least one allocation failed on the way */
    assert_int_equal(tm->live_bytes, 0);
    tk_test_mem_fail(tm, 0, 0);
}

static void test_pool_init_oom_sweep(void **state)
{
    tk_test_mem *tm = *state;
    pool_oom_sweep(tm, 1);
    pool_oom_sweep(tm, UINT64_MAX);
    assert_int_equal(tm->allocs, tm->frees);
}

static void test_pool_fill_levels(void **state)
{
    tk_test_mem *tm = *state;
    tk_pool pool;
    assert_int_equal(tk_pool_init(&pool, 24, 8, &tm->mem), TK_OK);
    assert_true(tm->live_bytes > 0);
    assert_int_equal(tk_pool_capacity(&pool), 8);
    assert_int_equal(tk_pool_used(&pool), 0);
    void *objs[8];
    for (uint32_t i = 0; i < 8; i++) {
        objs[i] = tk_pool_get(&pool);
        assert_non_null(objs[i]);
        assert_int_equal(tk_pool_used(&pool), i + 1u);
    }
    assert_null(tk_pool_get(&pool)); /* capacity + 1 */
    assert_null(tk_pool_get(&pool));
    assert_int_equal(tk_pool_used(&pool), 8);
    tk_pool_put(&pool, objs[5]);
    assert_int_equal(tk_pool_used(&pool), 7);
    void *again = tk_pool_get(&pool); /* the only free object */
    assert_ptr_equal(again, objs[5]);
    assert_null(tk_pool_get(&pool));
    for (uint32_t i = 0; i < 8; i++) {
        tk_pool_put(&pool, objs[i]);
        assert_int_equal(tk_pool_used(&pool), 7u - i);
    }
    assert_int_equal(tk_pool_capacity(&pool), 8);
    tk_pool_fini(&pool);
    assert_int_equal(tm->live_bytes, 0);
}

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a;
    uintptr_t y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

#define LAYOUT_CAPACITY 33u

/* Take every object: each aligned, none overlapping, each writable over obj_size bytes. */
static void check_layout(tk_test_mem *tm, size_t obj_size)
{
    tk_pool pool;
    assert_int_equal(tk_pool_init(&pool, obj_size, LAYOUT_CAPACITY, &tm->mem), TK_OK);
    unsigned char *objs[LAYOUT_CAPACITY];
    uintptr_t sorted[LAYOUT_CAPACITY];
    for (uint32_t i = 0; i < LAYOUT_CAPACITY; i++) {
        objs[i] = tk_pool_get(&pool);
        assert_non_null(objs[i]);
        assert_int_equal((uintptr_t)objs[i] % _Alignof(max_align_t), 0);
        memset(objs[i], (int)(i + 1u), obj_size);
        sorted[i] = (uintptr_t)objs[i];
    }
    assert_null(tk_pool_get(&pool));
    for (uint32_t i = 0; i < LAYOUT_CAPACITY; i++) {
        for (size_t b = 0; b < obj_size; b++) {
            if (objs[i][b] != (unsigned char)(i + 1u)) {
                fail_msg("size %zu: object %u byte %zu overwritten", obj_size, i, b);
            }
        }
    }
    qsort(sorted, LAYOUT_CAPACITY, sizeof(sorted[0]), compare_addresses);
    for (uint32_t i = 1; i < LAYOUT_CAPACITY; i++) {
        assert_true(sorted[i] - sorted[i - 1u] >= obj_size); /* distinct, no overlap */
    }
    for (uint32_t i = 0; i < LAYOUT_CAPACITY; i++) {
        tk_pool_put(&pool, objs[i]);
    }
    tk_pool_fini(&pool);
}

static void test_pool_object_layout(void **state)
{
    tk_test_mem *tm = *state;
    const size_t sizes[] = {1, 3, 15, 16, 17, 24, 100, 4097};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        check_layout(tm, sizes[i]);
    }
}

static void test_pool_capacity_one(void **state)
{
    tk_test_mem *tm = *state;
    tk_pool pool;
    assert_int_equal(tk_pool_init(&pool, 7, 1, &tm->mem), TK_OK);
    assert_int_equal(tk_pool_capacity(&pool), 1);
    for (int round = 0; round < 3; round++) {
        void *obj = tk_pool_get(&pool);
        assert_non_null(obj);
        assert_int_equal(tk_pool_used(&pool), 1);
        assert_null(tk_pool_get(&pool));
        memset(obj, 0x42, 7);
        tk_pool_put(&pool, obj);
        assert_int_equal(tk_pool_used(&pool), 0);
        void *again = tk_pool_get(&pool);
        assert_ptr_equal(again, obj);
        tk_pool_put(&pool, again);
    }
    tk_pool_fini(&pool);
}

static void test_pool_fini(void **state)
{
    tk_test_mem *tm = *state;
    tk_pool_fini(NULL); /* no-op */
    tk_pool pool;
    assert_int_equal(tk_pool_init(&pool, 32, 10, &tm->mem), TK_OK);
    for (int i = 0; i < 3; i++) {
        assert_non_null(tk_pool_get(&pool)); /* left out on purpose */
    }
    assert_int_equal(tk_pool_used(&pool), 3);
    tk_pool_fini(&pool);
    assert_int_equal(tm->live_bytes, 0);
    assert_int_equal(tm->allocs, tm->frees);
}

#define MODEL_CAPACITY 16u
#define MODEL_STEPS    20000u

/* Random gets and puts against a model of which objects are out: the count always agrees,
 * a get never returns an object already out, and an object's contents survive until put. */
static void test_pool_random_model(void **state)
{
    tk_test_mem *tm = *state;
    tk_pool pool;
    assert_int_equal(tk_pool_init(&pool, sizeof(uint64_t), MODEL_CAPACITY, &tm->mem), TK_OK);
    uint64_t *out[MODEL_CAPACITY];
    uint32_t out_count = 0;
    uint64_t tag = 0;
    tk_rng rng;
    tk_rng_init(&rng, 0x9001);
    for (uint32_t step = 0; step < MODEL_STEPS; step++) {
        if (tk_rng_below(&rng, 2) == 0) {
            uint64_t *obj = tk_pool_get(&pool);
            if (out_count == MODEL_CAPACITY) {
                assert_null(obj);
                continue;
            }
            assert_non_null(obj);
            for (uint32_t i = 0; i < out_count; i++) {
                assert_ptr_not_equal(obj, out[i]);
            }
            *obj = ++tag;
            out[out_count++] = obj;
        } else if (out_count > 0) {
            uint32_t pick = (uint32_t)tk_rng_below(&rng, out_count);
            assert_true(*out[pick] != 0);
            tk_pool_put(&pool, out[pick]);
            out[pick] = out[--out_count];
        }
        assert_int_equal(tk_pool_used(&pool), out_count);
    }
    tk_pool_fini(&pool);
}

static void test_pool_debug_fill(void **state)
{
#ifdef TK_DEBUG
    tk_test_mem *tm = *state;
    tk_pool pool;
    assert_int_equal(tk_pool_init(&pool, 40, 2, &tm->mem), TK_OK);
    unsigned char *keep = tk_pool_get(&pool);
    unsigned char *obj = tk_pool_get(&pool);
    assert_non_null(keep);
    assert_non_null(obj);
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(obj[i], 0xAA);
    }
    memset(obj, 0x11, 40);
    tk_pool_put(&pool, obj);
    unsigned char *again = tk_pool_get(&pool); /* the only free one: the same object */
    assert_ptr_equal(again, obj);
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(again[i], 0xAA); /* refilled, not what the last owner wrote */
    }
    tk_pool_put(&pool, again);
    tk_pool_put(&pool, keep);
    tk_pool_fini(&pool);
#else
    (void)state;
    skip(); /* the 0xAA fill is a debug-build feature */
#endif
}

/* Misuse of tk_pool_put, each run in a child that must panic. */
typedef enum pool_misuse {
    MISUSE_DOUBLE_PUT,
    MISUSE_FOREIGN_POINTER,
    MISUSE_INTERIOR_POINTER,
    MISUSE_NULL,
    MISUSE_OTHER_POOL,
} pool_misuse;

static void child_pool_misuse(void *arg)
{
    const pool_misuse *misuse = arg;
    tk_pool pool;
    tk_pool other;
    if (tk_pool_init(&pool, 32, 4, tk_mem_system()) != TK_OK) return;
    if (tk_pool_init(&other, 32, 4, tk_mem_system()) != TK_OK) return;
    unsigned char *obj = tk_pool_get(&pool);
    unsigned char *also_out = tk_pool_get(&pool); /* so a double put does not overfill */
    unsigned char *elsewhere = tk_pool_get(&other);
    uint64_t local[8] = {0};
    if (obj == NULL || also_out == NULL || elsewhere == NULL) return;
    switch (*misuse) {
    case MISUSE_DOUBLE_PUT:
        tk_pool_put(&pool, obj);
        tk_pool_put(&pool, obj);
        break;
    case MISUSE_FOREIGN_POINTER:
        tk_pool_put(&pool, local);
        break;
    case MISUSE_INTERIOR_POINTER:
        tk_pool_put(&pool, obj + 1);
        break;
    case MISUSE_NULL:
        tk_pool_put(&pool, NULL);
        break;
    case MISUSE_OTHER_POOL:
        tk_pool_put(&pool, elsewhere);
        break;
    }
    /* Reaching here means the misuse went unnoticed: the child exits 0. */
}

static tk_test_child child; /* large: one per process, not on the stack */

static void test_pool_misuse_panics(void **state)
{
    (void)state;
    const pool_misuse cases[] = {MISUSE_DOUBLE_PUT, MISUSE_FOREIGN_POINTER, MISUSE_INTERIOR_POINTER,
                                 MISUSE_NULL, MISUSE_OTHER_POOL};
    const char *names[] = {"double put", "foreign pointer", "interior pointer", "NULL",
                           "object of another pool"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(tk_test_child_run(child_pool_misuse, (void *)&cases[i], 0, &child));
        if (!base_child_panicked(&child)) fail_msg("tk_pool_put(%s) did not panic", names[i]);
        assert_non_null(strstr(child.output, "tk_pool.c"));
    }
}

/* A test with a fresh tk_test_mem in *state and a leak check after it. */
#define MEM_TEST(fn) cmocka_unit_test_setup_teardown(fn, tk_test_mem_setup, tk_test_mem_teardown)

int tk_test_pool(void)
{
    const struct CMUnitTest tests[] = {
        MEM_TEST(test_pool_init_invalid),
        MEM_TEST(test_pool_init_huge_sizes),
        MEM_TEST(test_pool_init_max_capacity_accepted),
        MEM_TEST(test_pool_init_oom_sweep),
        MEM_TEST(test_pool_fill_levels),
        MEM_TEST(test_pool_object_layout),
        MEM_TEST(test_pool_capacity_one),
        MEM_TEST(test_pool_fini),
        MEM_TEST(test_pool_random_model),
        MEM_TEST(test_pool_debug_fill),
        cmocka_unit_test(test_pool_misuse_panics),
    };
    return cmocka_run_group_tests_name("base/pool", tests, NULL, NULL);
}
