/* base/tk_ring.c: init errors and OOM, counts at the edges, FIFO order across wrap-arounds
 * (the buffer's and the uint32 indices'), peek, capacity 1 and odd element sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <inttypes.h>
#include <string.h>

#include "base_tests.h"
#include "tk.h"
#include "tk_test.h"

static void expect_init_error(tk_test_mem *tm, size_t elem_size, uint32_t capacity, tk_err want)
{
    tk_ring ring;
    tk_test_mark(&ring, sizeof(ring));
    uint64_t attempts = tm->attempts;
    tk_err err = tk_ring_init(&ring, elem_size, capacity, &tm->mem);
    if (err != want) {
        fail_msg("tk_ring_init(size %zu, capacity %u): got %s, want %s", elem_size, capacity,
                 tk_err_name(err), tk_err_name(want));
    }
    assert_true(tk_test_is_marked(&ring, sizeof(ring)));
    assert_int_equal(tm->live_bytes, 0);
    if (want == TK_EINVAL) assert_int_equal(tm->attempts, attempts); /* nothing allocated */
}

static void test_ring_init_invalid(void **state)
{
    tk_test_mem *tm = *state;
    const uint32_t bad[] = {0,
                            3,
                            5,
                            6,
                            7,
                            12,
                            100,
                            1000,
                            TK_RING_CAPACITY_MAX + 1u,
                            TK_RING_CAPACITY_MAX * 2u,
                            UINT32_C(1) << 31,
                            UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_init_error(tm, 8, bad[i], TK_EINVAL);
    }
    expect_init_error(tm, 0, 4, TK_EINVAL);
    expect_init_error(tm, 0, 1, TK_EINVAL);
}

static void test_ring_init_huge_sizes(void **state)
{
    tk_test_mem *tm = *state;
    tk_test_mem_cap(tm, (size_t)1 << 26); /* an overflowed size shows as a wrong TK_OK */
    const struct {
        size_t elem_size;
        uint32_t capacity;
    } cases[] = {
        {SIZE_MAX, 1},
        {SIZE_MAX, 2},
        {SIZE_MAX / 2u + 1u, 2},
        {SIZE_MAX / 4u + 1u, 4},
        {SIZE_MAX / 16u + 1u, 16},
        {(size_t)1 << 40, TK_RING_CAPACITY_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tk_ring ring;
        tk_test_mark(&ring, sizeof(ring));
        tk_err err = tk_ring_init(&ring, cases[i].elem_size, cases[i].capacity, &tm->mem);
        if (err != TK_EINVAL && err != TK_ENOMEM) {
            fail_msg("size %zu x %u: got %s, want TK_EINVAL or TK_ENOMEM", cases[i].elem_size,
                     cases[i].capacity, tk_err_name(err));
        }
        assert_true(tk_test_is_marked(&ring, sizeof(ring)));
        assert_int_equal(tm->live_bytes, 0);
    }
}

static void test_ring_init_max_capacity_accepted(void **state)
{
    tk_test_mem *tm = *state;
    tk_test_mem_fail(tm, 0, UINT64_MAX); /* the largest legal ring reaches the allocator */
    expect_init_error(tm, 1, TK_RING_CAPACITY_MAX, TK_ENOMEM);
    expect_init_error(tm, 16, TK_RING_CAPACITY_MAX, TK_ENOMEM);
    assert_true(tm->attempts > 0);
}

static void ring_oom_sweep(tk_test_mem *tm, uint64_t fail_count)
{
    uint64_t fail_at = 0;
    for (;; fail_at++) {
        assert_true(fail_at < 100);
        tk_test_mem_fail(tm, fail_at, fail_count);
        tk_ring ring;
        tk_test_mark(&ring, sizeof(ring));
        tk_err err = tk_ring_init(&ring, 24, 64, &tm->mem);
        if (err == TK_OK) {
            assert_int_equal(tk_ring_capacity(&ring), 64);
            tk_ring_fini(&ring);
            break;
        }
        if (err != TK_ENOMEM) fail_msg("fail_at %" PRIu64 ": got %s", fail_at, tk_err_name(err));
        assert_true(tk_test_is_marked(&ring, sizeof(ring)));
        assert_int_equal(tm->live_bytes, 0);
    }
    assert_true(fail_at >= 1);
    assert_int_equal(tm->live_bytes, 0);
    tk_test_mem_fail(tm, 0, 0);
}

static void test_ring_init_oom_sweep(void **state)
{
    tk_test_mem *tm = *state;
    ring_oom_sweep(tm, 1);
    ring_oom_sweep(tm, UINT64_MAX);
    assert_int_equal(tm->allocs, tm->frees);
}

static void test_ring_counts_at_edges(void **state)
{
    tk_test_mem *tm = *state;
    tk_ring ring;
    assert_int_equal(tk_ring_init(&ring, sizeof(uint64_t), 4, &tm->mem), TK_OK);
    assert_int_equal(tk_ring_capacity(&ring), 4);
    assert_int_equal(tk_ring_count(&ring), 0);
    assert_null(tk_ring_peek(&ring));
    uint64_t out = 0xFEEDu;
    assert_int_equal(tk_ring_pop(&ring, &out), TK_EEMPTY);
    assert_int_equal(out, 0xFEEDu); /* untouched */
    for (uint64_t v = 1; v <= 4; v++) {
        assert_int_equal(tk_ring_push(&ring, &v), TK_OK);
        assert_int_equal(tk_ring_count(&ring), v);
        const uint64_t *head = tk_ring_peek(&ring);
        assert_non_null(head);
        assert_int_equal(*head, 1); /* the head stays the first pushed */
    }
    uint64_t rejected = 99;
    assert_int_equal(tk_ring_push(&ring, &rejected), TK_EFULL); /* capacity + 1 */
    assert_int_equal(tk_ring_push(&ring, &rejected), TK_EFULL);
    assert_int_equal(tk_ring_count(&ring), 4);
    for (uint64_t v = 1; v <= 4; v++) {
        assert_int_equal(tk_ring_pop(&ring, &out), TK_OK);
        assert_int_equal(out, v); /* 99 never got in */
        assert_int_equal(tk_ring_count(&ring), 4u - v);
    }
    out = 0xFEEDu;
    assert_int_equal(tk_ring_pop(&ring, &out), TK_EEMPTY);
    assert_int_equal(out, 0xFEEDu);
    assert_null(tk_ring_peek(&ring));
    assert_int_equal(tk_ring_count(&ring), 0);
    tk_ring_fini(&ring);
}

/* Random pushes and pops against a model (the next value to push and to pop), checking
 * order, count and peek at every step. Pushes win slightly more often, so the ring spends
 * time full as well as empty. */
static void ring_run_model(tk_ring *ring, uint64_t seed, uint32_t steps)
{
    uint32_t capacity = tk_ring_capacity(ring);
    uint64_t next_push = 0;
    uint64_t next_pop = 0;
    tk_rng rng;
    tk_rng_init(&rng, seed);
    for (uint32_t step = 0; step < steps; step++) {
        uint64_t count = next_push - next_pop;
        if (tk_rng_below(&rng, 100) < 52) {
            tk_err err = tk_ring_push(ring, &next_push);
            assert_int_equal(err, count == capacity ? TK_EFULL : TK_OK);
            if (err == TK_OK) next_push++;
        } else {
            uint64_t out = UINT64_MAX;
            tk_err err = tk_ring_pop(ring, &out);
            assert_int_equal(err, count == 0 ? TK_EEMPTY : TK_OK);
            if (err == TK_OK) assert_int_equal(out, next_pop++);
            if (err != TK_OK) assert_int_equal(out, UINT64_MAX);
        }
        assert_int_equal(tk_ring_count(ring), next_push - next_pop);
        const uint64_t *head = tk_ring_peek(ring);
        if (next_push == next_pop) {
            assert_null(head);
        } else {
            assert_non_null(head);
            assert_int_equal(*head, next_pop);
        }
    }
    assert_true(next_pop > 10u * capacity); /* wrapped the buffer many times */
}

static void test_ring_fifo_many_wraps(void **state)
{
    tk_test_mem *tm = *state;
    const uint32_t capacities[] = {1, 2, 8, 64};
    for (size_t i = 0; i < sizeof(capacities) / sizeof(capacities[0]); i++) {
        tk_ring ring;
        assert_int_equal(tk_ring_init(&ring, sizeof(uint64_t), capacities[i], &tm->mem), TK_OK);
        ring_run_model(&ring, 0x51u + i, 50000);
        tk_ring_fini(&ring);
    }
}

static void test_ring_uint32_index_wrap(void **state)
{
    tk_test_mem *tm = *state;
    tk_ring ring;
    assert_int_equal(tk_ring_init(&ring, sizeof(uint64_t), 8, &tm->mem), TK_OK);
    /* An empty ring just before head and tail wrap past 2^32 (the fields are public). */
    ring.head = UINT32_MAX - 2u;
    ring.tail = UINT32_MAX - 2u;
    assert_int_equal(tk_ring_count(&ring), 0);
    assert_null(tk_ring_peek(&ring));
    for (uint64_t v = 0; v < 8; v++) { /* fill across the wrap */
        assert_int_equal(tk_ring_push(&ring, &v), TK_OK);
        assert_int_equal(tk_ring_count(&ring), v + 1u);
    }
    assert_true(ring.tail < ring.head); /* the tail has wrapped, the head not yet */
    uint64_t extra = 8;
    assert_int_equal(tk_ring_push(&ring, &extra), TK_EFULL);
    for (uint64_t v = 0; v < 8; v++) {
        uint64_t out = 0;
        assert_int_equal(tk_ring_pop(&ring, &out), TK_OK);
        assert_int_equal(out, v);
    }
    assert_int_equal(tk_ring_count(&ring), 0);
    ring.head = UINT32_MAX - 100u;
    ring.tail = UINT32_MAX - 100u;
    ring_run_model(&ring, 0x77, 5000); /* thousands of pops through the 2^32 boundary */
    assert_true(ring.head < 100000u);
    tk_ring_fini(&ring);
}

static void test_ring_capacity_one(void **state)
{
    tk_test_mem *tm = *state;
    tk_ring ring;
    assert_int_equal(tk_ring_init(&ring, sizeof(uint32_t), 1, &tm->mem), TK_OK);
    assert_int_equal(tk_ring_capacity(&ring), 1);
    for (uint32_t v = 10; v < 20; v++) {
        assert_int_equal(tk_ring_push(&ring, &v), TK_OK);
        assert_int_equal(tk_ring_count(&ring), 1);
        uint32_t rejected = 0;
        assert_int_equal(tk_ring_push(&ring, &rejected), TK_EFULL);
        const uint32_t *head = tk_ring_peek(&ring);
        assert_non_null(head);
        assert_int_equal(*head, v);
        uint32_t out = 0;
        assert_int_equal(tk_ring_pop(&ring, &out), TK_OK);
        assert_int_equal(out, v);
        assert_int_equal(tk_ring_pop(&ring, &out), TK_EEMPTY);
        assert_int_equal(tk_ring_count(&ring), 0);
    }
    tk_ring_fini(&ring);
}

#define ODD_BYTES_MAX 24u

static void fill_elem(unsigned char *elem, size_t size, uint32_t seq)
{
    for (size_t i = 0; i < size; i++) {
        elem[i] = (unsigned char)(seq * 31u + (uint32_t)i * 7u + 1u);
    }
}

/* Elements of an odd size go in and come out byte for byte, across buffer wraps. */
static void check_odd_size(tk_test_mem *tm, size_t size)
{
    tk_ring ring;
    assert_int_equal(tk_ring_init(&ring, size, 4, &tm->mem), TK_OK);
    uint32_t pushed = 0;
    uint32_t popped = 0;
    for (uint32_t round = 0; round < 50; round++) {
        uint32_t burst = 1u + round % 4u;
        for (uint32_t i = 0; i < burst; i++) {
            unsigned char elem[ODD_BYTES_MAX];
            fill_elem(elem, size, pushed);
            tk_err err = tk_ring_push(&ring, elem);
            if (pushed - popped == 4u) {
                assert_int_equal(err, TK_EFULL);
                continue;
            }
            assert_int_equal(err, TK_OK);
            pushed++;
        }
        for (uint32_t i = 0; i < burst && popped < pushed; i++) {
            unsigned char want[ODD_BYTES_MAX];
            unsigned char out[ODD_BYTES_MAX + 1u];
            fill_elem(want, size, popped);
            out[size] = 0xEE; /* a canary: pop copies exactly size bytes */
            const void *head = tk_ring_peek(&ring);
            assert_non_null(head);
            assert_memory_equal(head, want, size);
            assert_int_equal(tk_ring_pop(&ring, out), TK_OK);
            assert_memory_equal(out, want, size);
            assert_int_equal(out[size], 0xEE);
            popped++;
        }
    }
    assert_true(popped > 20);
    tk_ring_fini(&ring);
}

static void test_ring_odd_element_sizes(void **state)
{
    tk_test_mem *tm = *state;
    check_odd_size(tm, 3);
    check_odd_size(tm, 1);
    check_odd_size(tm, 24);
    check_odd_size(tm, 13);
}

static void test_ring_fini(void **state)
{
    tk_test_mem *tm = *state;
    tk_ring_fini(NULL); /* no-op */
    tk_ring ring;
    assert_int_equal(tk_ring_init(&ring, 5, 16, &tm->mem), TK_OK);
    assert_true(tm->live_bytes >= 5u * 16u);
    const char elem[5] = "abcd";
    for (int i = 0; i < 7; i++) {
        assert_int_equal(tk_ring_push(&ring, elem), TK_OK);
    }
    tk_ring_fini(&ring); /* queued elements are dropped */
    assert_int_equal(tm->live_bytes, 0);
    assert_int_equal(tm->allocs, tm->frees);
}

/* A test with a fresh tk_test_mem in *state and a leak check after it. */
#define MEM_TEST(fn) cmocka_unit_test_setup_teardown(fn, tk_test_mem_setup, tk_test_mem_teardown)

int tk_test_ring(void)
{
    const struct CMUnitTest tests[] = {
        MEM_TEST(test_ring_init_invalid),
        MEM_TEST(test_ring_init_huge_sizes),
        MEM_TEST(test_ring_init_max_capacity_accepted),
        MEM_TEST(test_ring_init_oom_sweep),
        MEM_TEST(test_ring_counts_at_edges),
        MEM_TEST(test_ring_fifo_many_wraps),
        MEM_TEST(test_ring_uint32_index_wrap),
        MEM_TEST(test_ring_capacity_one),
        MEM_TEST(test_ring_odd_element_sizes),
        MEM_TEST(test_ring_fini),
    };
    return cmocka_run_group_tests_name("base/ring", tests, NULL, NULL);
}
